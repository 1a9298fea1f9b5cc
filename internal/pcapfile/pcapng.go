package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types (draft-ietf-opsawg-pcapng §4, §11.1).
const (
	blockSHB = magicNG
	blockIDB = 0x00000001
	blockPB  = 0x00000002 // obsolete Packet Block, still written by old tools
	blockSPB = 0x00000003
	blockEPB = 0x00000006
)

// byteOrderMagic tells the byte order of a section (pcapng §4.1).
const byteOrderMagic = 0x1a2b3c4d

// Option codes (pcapng §3.5, §4.2).
const (
	optEnd      = 0
	optTSResol  = 9
	optTSOffset = 14
)

// iface is what packets need from an Interface Description Block.
type iface struct {
	linkType LinkType
	snapLen  uint32
	units    uint64 // timestamp ticks per second, from if_tsresol
	offset   int64  // seconds added to every timestamp, from if_tsoffset
}

// time converts a 64-bit timestamp in the interface's units.
func (f iface) time(ts uint64) time.Time {
	sec, frac := ts/f.units, ts%f.units
	// frac < units, so the quotient fits and Div64 cannot panic.
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, f.units)
	return time.Unix(int64(sec)+f.offset, int64(ns)).UTC()
}

// readFirstSection reads the Section Header Block every pcapng file starts
// with.
func (r *Reader) readFirstSection() error {
	typ, body, err := r.readBlock()
	if err != nil {
		return fmt.Errorf("reading pcapng section header: %w", unexpected(err))
	}
	if typ != blockSHB {
		return fmt.Errorf("%w: first block type %#x", ErrNotCapture, typ)
	}
	return r.section(body)
}

// nextNG returns the packet of the next packet block, reading the blocks
// before it.
func (r *Reader) nextNG() (Packet, error) {
	for {
		typ, body, err := r.readBlock()
		if err != nil {
			return Packet{}, err
		}
		switch typ {
		case blockSHB:
			err = r.section(body)
		case blockIDB:
			err = r.addIface(body)
		case blockEPB, blockPB:
			return r.packet(typ, body)
		case blockSPB:
			return r.simplePacket(body)
		}
		if err != nil {
			return Packet{}, err
		}
	}
}

// readBlock reads one block and returns its type and body: what follows
// the length field (for a Section Header Block, what follows the
// byte-order magic) up to the trailing length. A clean end of input before
// the block is io.EOF. The body aliases r.buf.
func (r *Reader) readBlock() (uint32, []byte, error) {
	var h [12]byte
	if err := r.readFull(h[:8]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("pcapng block after packet %d: reading header: %w", r.n, unexpected(err))
	}
	hlen := 8
	if binary.LittleEndian.Uint32(h[:]) == blockSHB {
		// A new section may change the byte order, which the length needs.
		if err := r.readFull(h[8:12]); err != nil {
			return 0, nil, fmt.Errorf("pcapng section header after packet %d: %w", r.n, unexpected(err))
		}
		switch {
		case binary.LittleEndian.Uint32(h[8:]) == byteOrderMagic:
			r.order = binary.LittleEndian
		case binary.BigEndian.Uint32(h[8:]) == byteOrderMagic:
			r.order = binary.BigEndian
		default:
			return 0, nil, fmt.Errorf("pcapng section header after packet %d: bad byte-order magic %x", r.n, h[8:12])
		}
		hlen = 12
	}
	typ, length := r.order.Uint32(h[:]), r.order.Uint32(h[4:])
	if length < uint32(hlen)+4 || length%4 != 0 || length > MaxRecord {
		return 0, nil, fmt.Errorf("pcapng block type %#x after packet %d: bad length %d", typ, r.n, length)
	}
	rest := r.buffer(int(length) - hlen)
	if err := r.readFull(rest); err != nil {
		return 0, nil, fmt.Errorf("pcapng block type %#x after packet %d: reading %d bytes: %w", typ, r.n, length, unexpected(err))
	}
	body, trailer := rest[:len(rest)-4], rest[len(rest)-4:]
	if t := r.order.Uint32(trailer); t != length {
		return 0, nil, fmt.Errorf("pcapng block type %#x after packet %d: trailing length %d, leading %d", typ, r.n, t, length)
	}
	return typ, body, nil
}

// section starts a new section from a Section Header Block body: version,
// section length, options. Interface numbers restart at 0.
func (r *Reader) section(body []byte) error {
	if len(body) < 12 {
		return fmt.Errorf("pcapng section header after packet %d: %d bytes, want at least 12", r.n, len(body))
	}
	if major := r.order.Uint16(body); major != 1 {
		return fmt.Errorf("pcapng version %d.%d: only 1.x is defined", major, r.order.Uint16(body[2:]))
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

// addIface reads an Interface Description Block: link type, reserved,
// snapshot length, options (if_tsresol, if_tsoffset).
func (r *Reader) addIface(body []byte) error {
	id := len(r.ifaces)
	if len(body) < 8 {
		return fmt.Errorf("pcapng interface %d: %d-byte description, want at least 8", id, len(body))
	}
	f := iface{linkType: LinkType(r.order.Uint16(body)), snapLen: r.order.Uint32(body[4:]), units: 1e6}
	err := r.options(body[8:], func(code uint16, v []byte) error {
		switch {
		case code == optTSResol && len(v) >= 1:
			u, ok := tsUnits(v[0])
			if !ok {
				return fmt.Errorf("pcapng interface %d: if_tsresol %#x out of range", id, v[0])
			}
			f.units = u
		case code == optTSOffset && len(v) >= 8:
			f.offset = int64(r.order.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.ifaces = append(r.ifaces, f)
	return nil
}

// tsUnits decodes if_tsresol: the high bit picks a power of two, else of
// ten; the rest is the negative exponent (pcapng §4.2). Without the option
// timestamps are in microseconds.
func tsUnits(v byte) (uint64, bool) {
	e := uint64(v & 0x7f)
	if v&0x80 != 0 {
		return 1 << e, e < 64
	}
	if e > 19 { // 10^20 does not fit in 64 bits
		return 0, false
	}
	u := uint64(1)
	for range e {
		u *= 10
	}
	return u, true
}

// options calls fn for each option in opts until opt_endofopt or the end.
// An option that runs past the block is an error; missing padding after
// the last one is tolerated.
func (r *Reader) options(opts []byte, fn func(code uint16, value []byte) error) error {
	for len(opts) >= 4 {
		code, n := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == optEnd {
			return nil
		}
		if 4+n > len(opts) {
			return fmt.Errorf("pcapng option %d after packet %d: %d bytes, only %d left in the block", code, r.n, n, len(opts)-4)
		}
		if err := fn(code, opts[4:4+n]); err != nil {
			return err
		}
		opts = opts[min(4+(n+3)&^3, len(opts)):]
	}
	return nil
}

// packet decodes an Enhanced Packet Block, or the obsolete Packet Block
// whose 32-bit interface field is split into a 16-bit one and a drop count:
// interface, timestamp (high, low), captured length, original length, data.
func (r *Reader) packet(typ uint32, body []byte) (Packet, error) {
	if len(body) < 20 {
		return Packet{}, fmt.Errorf("pcapng packet %d: %d-byte block, want at least 20", r.n+1, len(body))
	}
	id := r.order.Uint32(body)
	if typ == blockPB {
		id = uint32(r.order.Uint16(body))
	}
	if id >= uint32(len(r.ifaces)) {
		return Packet{}, fmt.Errorf("pcapng packet %d: interface %d, but the section describes %d", r.n+1, id, len(r.ifaces))
	}
	f := r.ifaces[id]
	ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	capLen, origLen := r.order.Uint32(body[12:]), r.order.Uint32(body[16:])
	if capLen > uint32(len(body)-20) {
		return Packet{}, fmt.Errorf("pcapng packet %d: captured length %d, but the block holds %d", r.n+1, capLen, len(body)-20)
	}
	return Packet{
		Time:      f.time(ts),
		LinkType:  f.linkType,
		Interface: int(id),
		Data:      body[20 : 20+capLen],
		Length:    int(origLen),
	}, nil
}

// simplePacket decodes a Simple Packet Block: original length, data. It
// belongs to interface 0 and has no timestamp; the captured length is the
// original one cut at the interface's snapshot length (pcapng §4.4).
func (r *Reader) simplePacket(body []byte) (Packet, error) {
	if len(body) < 4 {
		return Packet{}, fmt.Errorf("pcapng packet %d: %d-byte simple packet block, want at least 4", r.n+1, len(body))
	}
	if len(r.ifaces) == 0 {
		return Packet{}, fmt.Errorf("pcapng packet %d: simple packet before any interface description", r.n+1)
	}
	f := r.ifaces[0]
	origLen := r.order.Uint32(body)
	capLen := min(origLen, uint32(len(body)-4))
	if f.snapLen != 0 {
		capLen = min(capLen, f.snapLen)
	}
	return Packet{LinkType: f.linkType, Data: body[4 : 4+capLen], Length: int(origLen)}, nil
}

package pcapfile

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// LinkType is a LINKTYPE_ value (tcpdump.org link-layer header types): what
// the captured bytes start with.
type LinkType uint16

// The link types carpd inspect decodes.
const (
	LinkTypeEthernet  LinkType = 1   // LINKTYPE_ETHERNET
	LinkTypeRaw       LinkType = 101 // LINKTYPE_RAW: IPv4 or IPv6 by version nibble
	LinkTypeLinuxSLL  LinkType = 113 // LINKTYPE_LINUX_SLL: tcpdump -i any before libpcap 1.10
	LinkTypeIPv4      LinkType = 228 // LINKTYPE_IPV4
	LinkTypeIPv6      LinkType = 229 // LINKTYPE_IPV6
	LinkTypeLinuxSLL2 LinkType = 276 // LINKTYPE_LINUX_SLL2: tcpdump -i any since libpcap 1.10
)

// MaxRecord bounds every record and block read: larger lengths are
// reported as malformed instead of being allocated. Real captures stay
// far below it (libpcap's largest snapshot length is 256 KiB).
const MaxRecord = 16 << 20

// pcapMaxSnap is libpcap's MAXIMUM_SNAPLEN: a pcap record may exceed the
// file's snapshot length up to this much, as libpcap itself tolerates.
const pcapMaxSnap = 262144

// ErrNotCapture is returned by NewReader for data that starts with neither
// a pcap nor a pcapng magic number.
var ErrNotCapture = errors.New("not a pcap or pcapng capture")

// Packet is one captured packet.
type Packet struct {
	// Time is when it was captured, in UTC; zero for a pcapng Simple
	// Packet Block, which has no timestamp.
	Time time.Time
	// LinkType says how Data starts: the file's link type for pcap, the
	// packet's interface's for pcapng.
	LinkType LinkType
	// Interface is the pcapng interface number within its section; 0 for
	// pcap.
	Interface int
	// Data is the captured bytes. It aliases the Reader's buffer and is
	// valid until the next call to Next.
	Data []byte
	// Length is the packet's length on the wire, which may exceed
	// len(Data) when the capture was cut at the snapshot length.
	Length int
}

// Reader reads packets from a pcap or pcapng stream. It is not safe for
// concurrent use.
type Reader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	n     int    // packets returned so far, for error messages
	buf   []byte // reused for each record or block
	ng    bool

	// pcap
	linkType  LinkType
	snapLen   uint32
	nsPerFrac int64 // 1000 for microsecond files, 1 for nanosecond ones

	// pcapng, current section
	ifaces []iface
}

// Magic numbers, as read in little-endian order.
const (
	magicMicro     = 0xa1b2c3d4
	magicNano      = 0xa1b23c4d
	magicMicroSwap = 0xd4c3b2a1
	magicNanoSwap  = 0x4d3cb2a1
	magicNG        = 0x0a0d0d0a // pcapng Section Header Block type: the same in both orders
)

// NewReader reads the file header of a pcap or pcapng stream (gzip
// compression is undone transparently) and returns a Reader positioned at
// the first packet. It returns an error wrapping ErrNotCapture when the
// magic number is neither, and a descriptive error for a malformed or
// truncated header.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		br = bufio.NewReader(zr)
	}
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %d-byte file", ErrNotCapture, len(head))
	}
	rd := &Reader{r: br}
	switch magic := binary.LittleEndian.Uint32(head); magic {
	case magicMicro, magicNano, magicMicroSwap, magicNanoSwap:
		err = rd.readPcapHeader(magic)
	case magicNG:
		rd.ng = true
		err = rd.readFirstSection()
	default:
		return nil, fmt.Errorf("%w: magic %#08x", ErrNotCapture, magic)
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// Next returns the next packet, or io.EOF after the last one. Any other
// error means the file is truncated or malformed at that point; the
// packets returned before it are good.
func (r *Reader) Next() (Packet, error) {
	var p Packet
	var err error
	if r.ng {
		p, err = r.nextNG()
	} else {
		p, err = r.nextPcap()
	}
	if err != nil {
		return Packet{}, err
	}
	r.n++
	return p, nil
}

// readFull reads exactly len(b) bytes. A clean end of input before the
// first byte is io.EOF; one in the middle is io.ErrUnexpectedEOF.
func (r *Reader) readFull(b []byte) error {
	_, err := io.ReadFull(r.r, b)
	return err
}

// buffer returns r.buf resized to n bytes, growing it only when needed.
func (r *Reader) buffer(n int) []byte {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	return r.buf[:n]
}

// readPcapHeader reads pcap's 24-byte file header (pcap-savefile(5)):
// magic, version 2.4, reserved, snapshot length, link type.
func (r *Reader) readPcapHeader(magic uint32) error {
	var h [24]byte
	if err := r.readFull(h[:]); err != nil {
		return fmt.Errorf("reading pcap file header: %w", unexpected(err))
	}
	r.order, r.nsPerFrac = binary.LittleEndian, 1000
	switch magic {
	case magicNano:
		r.nsPerFrac = 1
	case magicMicroSwap:
		r.order = binary.BigEndian
	case magicNanoSwap:
		r.order, r.nsPerFrac = binary.BigEndian, 1
	}
	if major := r.order.Uint16(h[4:]); major != 2 {
		return fmt.Errorf("pcap version %d.%d: only 2.x is defined", major, r.order.Uint16(h[6:]))
	}
	r.snapLen = r.order.Uint32(h[16:])
	// The upper 16 bits hold the FCS length and reserved flags.
	r.linkType = LinkType(r.order.Uint32(h[20:]))
	return nil
}

// nextPcap reads one pcap record: seconds, fraction, captured length,
// original length, then the captured bytes.
func (r *Reader) nextPcap() (Packet, error) {
	var h [16]byte
	if err := r.readFull(h[:]); err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("pcap record %d: reading header: %w", r.n+1, unexpected(err))
	}
	capLen, origLen := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	limit := max(r.snapLen, pcapMaxSnap)
	if capLen > limit || capLen > MaxRecord {
		return Packet{}, fmt.Errorf("pcap record %d: captured length %d over the snapshot length %d", r.n+1, capLen, r.snapLen)
	}
	data := r.buffer(int(capLen))
	if err := r.readFull(data); err != nil {
		return Packet{}, fmt.Errorf("pcap record %d: reading %d bytes: %w", r.n+1, capLen, unexpected(err))
	}
	sec, frac := int64(r.order.Uint32(h[0:])), int64(r.order.Uint32(h[4:]))
	return Packet{
		Time:     time.Unix(sec, frac*r.nsPerFrac).UTC(),
		LinkType: r.linkType,
		Data:     data,
		Length:   int(origLen),
	}, nil
}

// unexpected turns an io.EOF in the middle of a structure into
// io.ErrUnexpectedEOF, so callers can tell truncation from a clean end.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

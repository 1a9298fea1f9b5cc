package pcapfile

import (
	"encoding/binary"
)

// Builders for capture files in either byte order, so tests can make
// inputs pcapgo's writers cannot (big-endian, several link types, Simple
// and obsolete Packet Blocks, unknown blocks, broken lengths).

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapFile writes a pcap file header: magic in the file's byte order,
// version 2.4, snapshot length, link type.
func pcapFile(order byteOrder, nano bool, snap uint32, lt uint32) []byte {
	magic := uint32(magicMicro)
	if nano {
		magic = magicNano
	}
	b := order.AppendUint32(nil, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...) // thiszone, sigfigs
	b = order.AppendUint32(b, snap)
	return order.AppendUint32(b, lt)
}

// pcapRecord appends one record.
func pcapRecord(b []byte, order byteOrder, sec, frac uint32, data []byte, origLen uint32) []byte {
	b = order.AppendUint32(b, sec)
	b = order.AppendUint32(b, frac)
	b = order.AppendUint32(b, uint32(len(data)))
	b = order.AppendUint32(b, origLen)
	return append(b, data...)
}

// ng builds a pcapng stream.
type ng struct {
	order byteOrder
	b     []byte
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// block appends a block with body padded to 4 bytes and both lengths.
func (w *ng) block(typ uint32, body []byte) *ng {
	body = pad4(append([]byte(nil), body...))
	n := uint32(12 + len(body))
	w.b = w.order.AppendUint32(w.b, typ)
	w.b = w.order.AppendUint32(w.b, n)
	w.b = append(w.b, body...)
	w.b = w.order.AppendUint32(w.b, n)
	return w
}

// opt encodes one option, padded.
func (w *ng) opt(code uint16, v []byte) []byte {
	b := w.order.AppendUint16(nil, code)
	b = w.order.AppendUint16(b, uint16(len(v)))
	return pad4(append(b, v...))
}

// shb starts a section (version 1.0, unknown section length) in w.order.
func (w *ng) shb(opts ...[]byte) *ng {
	body := w.order.AppendUint32(nil, byteOrderMagic)
	body = w.order.AppendUint16(body, 1)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint64(body, ^uint64(0))
	for _, o := range opts {
		body = append(body, o...)
	}
	return w.block(blockSHB, body)
}

// idb describes an interface; opts are encoded options (w.opt).
func (w *ng) idb(lt uint16, snap uint32, opts ...[]byte) *ng {
	body := w.order.AppendUint16(nil, lt)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, snap)
	for _, o := range opts {
		body = append(body, o...)
	}
	if len(opts) > 0 {
		body = append(body, w.opt(optEnd, nil)...)
	}
	return w.block(blockIDB, body)
}

// epb appends an Enhanced Packet Block.
func (w *ng) epb(id uint32, ts uint64, data []byte, origLen uint32) *ng {
	body := w.order.AppendUint32(nil, id)
	body = w.order.AppendUint32(body, uint32(ts>>32))
	body = w.order.AppendUint32(body, uint32(ts))
	body = w.order.AppendUint32(body, uint32(len(data)))
	body = w.order.AppendUint32(body, origLen)
	return w.block(blockEPB, append(body, data...))
}

// pb appends an obsolete Packet Block (drop count 7).
func (w *ng) pb(id uint16, ts uint64, data []byte) *ng {
	body := w.order.AppendUint16(nil, id)
	body = w.order.AppendUint16(body, 7)
	body = w.order.AppendUint32(body, uint32(ts>>32))
	body = w.order.AppendUint32(body, uint32(ts))
	body = w.order.AppendUint32(body, uint32(len(data)))
	body = w.order.AppendUint32(body, uint32(len(data)))
	return w.block(blockPB, append(body, data...))
}

// spb appends a Simple Packet Block.
func (w *ng) spb(data []byte, origLen uint32) *ng {
	return w.block(blockSPB, append(w.order.AppendUint32(nil, origLen), data...))
}

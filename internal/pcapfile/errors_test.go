package pcapfile

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestMalformed: truncated or malformed files end in an error that says
// what is wrong, after the packets before the damage.
func TestMalformed(t *testing.T) {
	frame := []byte{1, 2, 3, 4, 5, 6, 7}
	pcap := pcapRecord(pcapFile(le, false, 65535, 1), le, 1, 0, frame, 7)
	good := (&ng{order: le}).shb().idb(1, 0).epb(0, 0, frame, 7).b
	w := &ng{order: le}
	// setLen overwrites the leading length of the block starting at off.
	setLen := func(b []byte, off int, n uint32) []byte {
		b = append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(b[off+4:], n)
		return b
	}
	shbLen := 28
	idbEnd := shbLen + 20
	tests := []struct {
		name    string
		raw     []byte
		packets int    // read before the error
		want    string // in the error
		is      error  // errors.Is, when set
	}{
		{"empty", nil, 0, "not a pcap or pcapng capture", ErrNotCapture},
		{"text", []byte("root:x:0:0:root:/root:/bin/bash\n"), 0, "magic 0x746f6f72", ErrNotCapture},
		{"pcap header cut", pcap[:20], 0, "pcap file header", io.ErrUnexpectedEOF},
		{"pcap version", func() []byte { b := append([]byte(nil), pcap...); b[4] = 3; return b }(), 0, "pcap version 3.4", nil},
		{"pcap record header cut", pcap[:24+10], 0, "pcap record 1: reading header", io.ErrUnexpectedEOF},
		{"pcap data cut", append(append([]byte(nil), pcap...), pcap[24:24+16+3]...), 1, "pcap record 2: reading 7 bytes", io.ErrUnexpectedEOF},
		{"pcap caplen over snaplen", pcapRecord(pcapFile(le, false, 100, 1), le, 1, 0, make([]byte, pcapMaxSnap+1), 1), 0, "captured length 262145 over the snapshot length 100", nil},
		{"pcap caplen over bound", pcapRecord(pcapFile(le, false, 0xffffffff, 1), le, 1, 0, nil, 1)[:24+8], 0, "pcap record 1", io.ErrUnexpectedEOF},
		{"pcapng bad byte order", func() []byte { b := append([]byte(nil), good...); b[8] = 0; return b }(), 0, "bad byte-order magic", nil},
		{"pcapng version 2", func() []byte { b := append([]byte(nil), good...); b[12] = 2; return b }(), 0, "pcapng version 2.0", nil},
		{"pcapng shb cut", good[:20], 0, "pcapng section header", io.ErrUnexpectedEOF},
		{"pcapng length not multiple of 4", setLen(good, shbLen, 21), 0, "bad length 21", nil},
		{"pcapng length over 16 MiB", setLen(good, shbLen, 16<<20+4), 0, "bad length 16777220", nil},
		{"pcapng length under 12", setLen(good, shbLen, 8), 0, "bad length 8", nil},
		{"pcapng trailer mismatch", setLen(good, shbLen, 24), 0, "trailing length", nil},
		{"pcapng block cut", good[:len(good)-5], 0, "reading 40 bytes", io.ErrUnexpectedEOF},
		{"pcapng block header cut", append(append([]byte(nil), good...), 6, 0, 0), 1, "reading header", io.ErrUnexpectedEOF},
		{"pcapng packet before interface", (&ng{order: le}).shb().epb(0, 0, frame, 7).b, 0, "interface 0, but the section describes 0", nil},
		{"pcapng interface out of range", (&ng{order: be}).shb().idb(1, 0).epb(1, 0, frame, 7).b, 0, "interface 1, but the section describes 1", nil},
		{"pcapng new section forgets interfaces", append(append([]byte(nil), good...), (&ng{order: le}).shb().epb(0, 0, frame, 7).b...), 1, "interface 0, but the section describes 0", nil},
		{"pcapng caplen over block", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[idbEnd+8+12:], 9)
			return b
		}(), 0, "captured length 9, but the block holds 8", nil},
		{"pcapng short epb", (&ng{order: le}).shb().idb(1, 0).block(blockEPB, make([]byte, 16)).b, 0, "16-byte block", nil},
		{"pcapng short idb", (&ng{order: le}).shb().block(blockIDB, make([]byte, 4)).b, 0, "4-byte description", nil},
		{"pcapng spb before interface", (&ng{order: le}).shb().spb(frame, 7).b, 0, "simple packet before any interface", nil},
		{"pcapng tsresol 10^-20", (&ng{order: le}).shb().idb(1, 0, w.opt(optTSResol, []byte{20})).b, 0, "if_tsresol 0x14 out of range", nil},
		{"pcapng tsresol 2^-64", (&ng{order: le}).shb().idb(1, 0, w.opt(optTSResol, []byte{0x80 | 64})).b, 0, "if_tsresol 0xc0 out of range", nil},
		{"pcapng option past block", (&ng{order: le}).shb().idb(1, 0, le.AppendUint16(le.AppendUint16(nil, 2), 64)).b, 0, "only 4 left in the block", nil},
		{"first block not a section", func() []byte { b := append([]byte(nil), good...); return b[shbLen:] }(), 0, "magic 0x00000001", ErrNotCapture},
	}
	for _, tt := range tests {
		got, err := readAll(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: error %v, want one containing %q (errors.Is %v)", tt.name, err, tt.want, tt.is)
		}
		if len(got) != tt.packets {
			t.Errorf("%s: %d packets before the error, want %d", tt.name, len(got), tt.packets)
		}
	}
}

package pcapfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// golden are the captures of real ucarp and keepalived traffic.
const golden = "../../carp/testdata/*.pcap"

// pkt is a packet as both readers report it.
type pkt struct {
	Time      time.Time
	LinkType  LinkType
	Interface int
	Data      []byte
	Length    int
}

// readAll reads raw with Reader, copying each packet's data. It returns
// the packets before any error, and the error (nil at a clean EOF).
func readAll(raw []byte) ([]pkt, error) {
	r, err := NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var ps []pkt
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ps, nil
		}
		if err != nil {
			return ps, err
		}
		ps = append(ps, pkt{p.Time, p.LinkType, p.Interface, bytes.Clone(p.Data), p.Length})
	}
}

// readPcapgo reads raw with gopacket's pcapgo, the reference; for pcapng
// each packet's own interface link type is kept (WantMixedLinkType).
func readPcapgo(t *testing.T, raw []byte) []pkt {
	t.Helper()
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	var fileLT layers.LinkType
	if binary.LittleEndian.Uint32(raw) == magicNG {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("pcapgo: %v", err)
		}
		src = r
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("pcapgo: %v", err)
		}
		src, fileLT = r, r.LinkType()
	}
	var ps []pkt
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return ps
		}
		if err != nil {
			t.Fatalf("pcapgo: packet %d: %v", len(ps)+1, err)
		}
		lt := fileLT
		if len(ci.AncillaryData) > 0 {
			lt = ci.AncillaryData[0].(layers.LinkType)
		}
		ps = append(ps, pkt{ci.Timestamp, LinkType(lt), ci.InterfaceIndex, data, ci.Length})
	}
}

// toPcapng rewrites a pcap as pcapng with pcapgo's writer (nanosecond
// timestamps, little-endian).
func toPcapng(t *testing.T, raw []byte) []byte {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func gzipped(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGoldenMatchesPcapgo: every golden capture, as pcap, gzipped pcap and
// pcapng, reads the same through Reader as through pcapgo: packet count,
// timestamps, link type, bytes and lengths.
func TestGoldenMatchesPcapgo(t *testing.T) {
	files, err := filepath.Glob(golden)
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden captures at %s (%v)", golden, err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := readPcapgo(t, raw)
		if len(want) == 0 {
			t.Fatalf("%s: pcapgo reads no packets", file)
		}
		forms := map[string][]byte{"pcap": raw, "pcap.gz": gzipped(t, raw), "pcapng": toPcapng(t, raw)}
		for form, b := range forms {
			if form == "pcapng" {
				if diff := cmp.Diff(want, readPcapgo(t, b)); diff != "" {
					t.Fatalf("%s: pcapgo's pcapng differs from its pcap (-pcap +pcapng):\n%s", file, diff)
				}
			}
			got, err := readAll(b)
			if err != nil {
				t.Errorf("%s as %s: %v", filepath.Base(file), form, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s as %s (-pcapgo +Reader):\n%s", filepath.Base(file), form, diff)
			}
		}
	}
}

var (
	le byteOrder = binary.LittleEndian
	be byteOrder = binary.BigEndian
)

// TestFormats reads hand-built files in both byte orders with the expected
// packets written out; pcapgo must agree where it can read the file (it
// rounds binary if_tsresol and has no if_tsoffset sign).
func TestFormats(t *testing.T) {
	frame := []byte{1, 2, 3, 4, 5, 6, 7}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	sec := uint32(t0.Unix())
	tests := []struct {
		name   string
		raw    []byte
		want   []pkt
		oracle bool // pcapgo reads it the same
	}{
		{"pcap le micro", pcapRecord(pcapFile(le, false, 65535, 1), le, sec, 123456, frame, 60),
			[]pkt{{t0.Add(123456 * time.Microsecond), LinkTypeEthernet, 0, frame, 60}}, true},
		{"pcap be micro", pcapRecord(pcapFile(be, false, 65535, 1), be, sec, 123456, frame, 60),
			[]pkt{{t0.Add(123456 * time.Microsecond), LinkTypeEthernet, 0, frame, 60}}, true},
		{"pcap le nano", pcapRecord(pcapFile(le, true, 65535, 113), le, sec, 123456789, frame, 7),
			[]pkt{{t0.Add(123456789), LinkTypeLinuxSLL, 0, frame, 7}}, true},
		{"pcap be nano", pcapRecord(pcapFile(be, true, 65535, 101), be, sec, 999999999, frame, 7),
			[]pkt{{t0.Add(999999999), LinkTypeRaw, 0, frame, 7}}, true},
		// pcapgo keeps link types in a byte: 276 would read as 20.
		{"pcap sll2 fcs bits", pcapRecord(pcapFile(le, false, 65535, 276|0x10000000), le, sec, 0, frame, 7),
			[]pkt{{t0, LinkTypeLinuxSLL2, 0, frame, 7}}, false},
		{"pcap empty", pcapFile(be, false, 65535, 1), nil, true},
		{"pcapng mixed le", mixed(le), mixedWant(t0, frame), true},
		{"pcapng mixed be", mixed(be), mixedWant(t0, frame), true},
		{"pcapng two sections", twoSections(), []pkt{
			{t0, LinkTypeEthernet, 0, frame, 7},
			{t0.Add(time.Second), LinkTypeIPv6, 0, frame[:3], 3},
		}, true},
		{"pcapng tsresol 2^-10, tsoffset -1s", (&ng{order: be}).shb().
			idb(228, 0, (&ng{order: be}).opt(optTSResol, []byte{0x80 | 10}), (&ng{order: be}).opt(optTSOffset, be.AppendUint64(nil, ^uint64(0)))).
			epb(0, uint64(sec)<<10|512, frame, 7).b,
			[]pkt{{t0.Add(-time.Second + 500*time.Millisecond), LinkTypeIPv4, 0, frame, 7}}, false},
	}
	for _, tt := range tests {
		got, err := readAll(tt.raw)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if tt.oracle {
			if diff := cmp.Diff(tt.want, readPcapgo(t, tt.raw)); diff != "" {
				t.Errorf("%s: pcapgo (-want +pcapgo):\n%s", tt.name, diff)
			}
		}
	}
}

// mixed is a pcapng section with three interfaces of different link types
// and resolutions, packets in each block kind and blocks to skip.
func mixed(order byteOrder) []byte {
	w := &ng{order: order}
	frame := []byte{1, 2, 3, 4, 5, 6, 7}
	sec := uint64(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).Unix())
	w.shb(w.opt(4, []byte("carpd test")), w.opt(optEnd, nil))
	w.idb(1, 5)                                                           // Ethernet, µs, snaplen 5
	w.idb(113, 0, w.opt(optTSResol, []byte{9}))                           // Linux SLL, ns
	w.block(0x00000004, []byte{0, 0, 0, 0})                               // Name Resolution Block: skipped
	w.idb(101, 0, w.opt(2, []byte("eth1")), w.opt(optTSResol, []byte{3})) // raw, ms
	w.epb(0, sec*1e6+250000, frame[:5], 7)
	w.epb(1, sec*1e9+1, frame, 7)
	w.block(0x00000005, make([]byte, 12)) // Interface Statistics Block: skipped
	w.epb(2, sec*1e3+999, frame, 7)
	w.spb(frame, 7) // interface 0: cut at its snaplen
	w.pb(1, sec*1e9+2, frame)
	w.block(0x40000bad, []byte{0xde, 0xad}) // custom block: skipped
	return w.b
}

func mixedWant(t0 time.Time, frame []byte) []pkt {
	return []pkt{
		{t0.Add(250 * time.Millisecond), LinkTypeEthernet, 0, frame[:5], 7},
		{t0.Add(1), LinkTypeLinuxSLL, 1, frame, 7},
		{t0.Add(999 * time.Millisecond), LinkTypeRaw, 2, frame, 7},
		{time.Time{}, LinkTypeEthernet, 0, frame[:5], 7},
		{t0.Add(2), LinkTypeLinuxSLL, 1, frame, 7},
	}
}

// twoSections has a little-endian section and a big-endian one whose
// interface 0 is a different interface.
func twoSections() []byte {
	frame := []byte{1, 2, 3, 4, 5, 6, 7}
	sec := uint64(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).Unix())
	a := (&ng{order: le}).shb().idb(1, 0).epb(0, sec*1e6, frame, 7)
	b := (&ng{order: be}).shb().idb(229, 0).epb(0, (sec+1)*1e6, frame[:3], 3)
	return append(a.b, b.b...)
}

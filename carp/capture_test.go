package carp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carpd/carpd/carp/internal/frametest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// capturesGlob is where captures of real ucarp and keepalived traffic live.
const capturesGlob = "testdata/*.pcap*"

// capture is one IP protocol 112 packet from a capture file.
type capture struct {
	name     string // file:packet number, for messages
	payload  []byte // the IP payload: the CARP or VRRP message
	src, dst netip.Addr
	ttl      uint8 // TTL or hop limit
}

// readCaptures returns the protocol 112 IP payloads of every pcap or pcapng
// file matching glob, in file order. Files whose link type gopacket decodes
// (Ethernet, Linux cooked, raw IP) are supported; other packets are skipped.
func readCaptures(t testing.TB, glob string) []capture {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatalf("bad capture glob %q: %v", glob, err)
	}
	var caps []capture
	for _, file := range files {
		cs, err := readCaptureFile(file)
		if err != nil {
			t.Fatalf("reading capture %s: %v", file, err)
		}
		caps = append(caps, cs...)
	}
	return caps
}

// packetSource is what pcapgo's pcap and pcapng readers have in common.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

func readCaptureFile(file string) ([]capture, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var src packetSource
	if bytes.HasPrefix(raw, []byte{0x0a, 0x0d, 0x0d, 0x0a}) { // pcapng section header block
		src, err = pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, err
	}
	var caps []capture
	for i := 1; ; i++ {
		data, _, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return caps, nil
		}
		if err != nil {
			return caps, fmt.Errorf("packet %d: %w", i, err)
		}
		p := gopacket.NewPacket(data, src.LinkType(), gopacket.Default)
		c := capture{name: fmt.Sprintf("%s:%d", filepath.Base(file), i)}
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			if ip.Protocol != layers.IPProtocolVRRP || ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
				continue
			}
			c.payload, c.ttl = ip.Payload, ip.TTL
			c.src, _ = netip.AddrFromSlice(ip.SrcIP)
			c.dst, _ = netip.AddrFromSlice(ip.DstIP)
		case *layers.IPv6:
			if ip.NextHeader != layers.IPProtocolVRRP {
				continue
			}
			c.payload, c.ttl = ip.Payload, ip.HopLimit
			c.src, _ = netip.AddrFromSlice(ip.SrcIP)
			c.dst, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		c.src, c.dst = c.src.Unmap(), c.dst.Unmap()
		c.payload = bytes.Clone(c.payload)
		caps = append(caps, c)
	}
}

// TestCaptures decodes every advertisement captured from real ucarp and
// keepalived (carp/testdata/README.md): each must classify as the program
// that sent it, decode with a valid checksum, carry TTL 255, and re-encode
// to the very bytes on the wire. The CARP HMAC and the VRRPv2 password are
// checked with the lab's password and refused with another.
func TestCaptures(t *testing.T) {
	want := map[string]Proto{
		"ucarp.pcap":              ProtoCARP,
		"keepalived-v2.pcap":      ProtoVRRP2,
		"keepalived-v3.pcap":      ProtoVRRP3,
		"keepalived-v3-ipv6.pcap": ProtoVRRP3,
	}
	caps := readCaptures(t, capturesGlob)
	perFile := map[string]int{}
	for _, c := range caps {
		file := c.name[:strings.LastIndexByte(c.name, ':')]
		perFile[file]++
		if c.ttl != 255 {
			t.Errorf("%s: TTL %d, want 255", c.name, c.ttl)
		}
		proto, err := Classify(c.payload)
		if err != nil || proto != want[file] {
			t.Errorf("%s: Classify = %v, %v; want %v", c.name, proto, err, want[file])
			continue
		}
		if proto == ProtoCARP {
			checkCapturedCARP(t, c)
		} else {
			checkCapturedVRRP(t, c)
		}
	}
	for file := range want {
		if perFile[file] == 0 {
			t.Errorf("no advertisements read from testdata/%s", file)
		}
	}
}

func checkCapturedCARP(t *testing.T, c capture) {
	t.Helper()
	var h Header
	if err := h.UnmarshalBinary(c.payload); err != nil {
		t.Errorf("%s: decoding CARP: %v", c.name, err)
		return
	}
	if got := mustAppend(t, &h); !bytes.Equal(got, c.payload) {
		t.Errorf("%s: re-encoded\n%x\nwant\n%x", c.name, got, c.payload)
	}
	vip := []netip.Addr{netip.MustParseAddr("198.18.0.10")}
	good, err := NewAuth([]byte("s3cretpw"), h.VHID, vip, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Verify(&h); err != nil {
		t.Errorf("%s: ucarp HMAC with the right password: %v", c.name, err)
	}
	// Signing the captured counter must reproduce ucarp's digest.
	signed := h
	signed.MD = [20]byte{}
	good.Sign(&signed)
	if signed.MD != h.MD {
		t.Errorf("%s: Sign gives %x, ucarp sent %x", c.name, signed.MD, h.MD)
	}
	bad, err := NewAuth([]byte("s3cretpx"), h.VHID, vip, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Verify(&h); !errors.Is(err, ErrAuth) {
		t.Errorf("%s: wrong password: Verify = %v, want ErrAuth", c.name, err)
	}
}

func checkCapturedVRRP(t *testing.T, c capture) {
	t.Helper()
	var v VRRP
	if err := unmarshalVRRP(&v, c.payload, c.src, c.dst); err != nil || !v.ChecksumChecked {
		t.Errorf("%s: decoding VRRP: %v (checksum checked %v)", c.name, err, v.ChecksumChecked)
		return
	}
	if v.Version == 3 && c.src.Is4() && !v.PseudoHeader {
		t.Errorf("%s: keepalived 2.2.7 checksums VRRPv3 over IPv4 with the pseudo-header", c.name)
	}
	got, err := v.AppendBinary(nil)
	if err != nil || !bytes.Equal(got, c.payload) {
		t.Errorf("%s: re-encoded (%v)\n%x\nwant\n%x", c.name, err, got, c.payload)
	}
	if v.Version == 2 && v.AuthType == 1 {
		if err := v.VerifyPassword([]byte("s3cretpw")); err != nil {
			t.Errorf("%s: keepalived PASS with the right password: %v", c.name, err)
		}
		if err := v.VerifyPassword([]byte("s3cretpx")); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: wrong password: %v, want ErrAuth", c.name, err)
		}
	}
}

// TestReadCaptures writes a small pcap with pcapgo and reads it back, so
// the helper is known to work before real captures arrive.
func TestReadCaptures(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	h := vector1Header(t)
	other := frametest.Frame(t, false, gopacket.Payload{1, 2, 3})
	other[14+9] = 17 // IP protocol UDP: skipped (IPv4 checksum is not checked by gopacket)
	for _, fr := range [][]byte{frametest.Frame(t, false, gopacket.Payload(mustAppend(t, &h))), other, frametest.Frame(t, true, gopacket.Payload(frametest.Unhex(t, vrrp3v6Vector)))} {
		if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCaptures(t, filepath.Join(dir, "*.pcap"))
	want := []capture{
		{name: "x.pcap:1", payload: frametest.Unhex(t, vector1), src: frametest.Src4, dst: frametest.Dst4, ttl: 255},
		{name: "x.pcap:3", payload: frametest.Unhex(t, vrrp3v6Vector), src: frametest.Src6, dst: frametest.Dst6, ttl: 255},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(capture{}), eqAddr); diff != "" {
		t.Errorf("readCaptures (-want +got):\n%s", diff)
	}
}

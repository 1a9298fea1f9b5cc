package carplayers_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/carp/carplayers"
	"github.com/carpd/carpd/carp/internal/frametest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Vectors of package carp's tests: CARP signed by ucarp's carp_prepare_ad
// (password "mypassword", vhid 1, VIP 10.1.1.252), and VRRPv3 with the IPv4
// pseudo-header (VRID 51, priority 100, VIP 192.168.1.100,
// 192.168.1.1 → 224.0.0.18).
const (
	vector1           = "21 01 00 07 00 01 bd35 0123456789abcdef b0c95ba597ba42bcf424d715b1a4eba2db3958f9"
	vrrp3PseudoVector = "31336401 0064 0622 c0a80164"
)

// TestLayerTypeDecoders: the registered layer types decode a bare payload
// without classifying.
func TestLayerTypeDecoders(t *testing.T) {
	p := gopacket.NewPacket(frametest.Unhex(t, vector1), carplayers.LayerTypeCARP, gopacket.Default)
	if c, ok := p.Layer(carplayers.LayerTypeCARP).(*carplayers.CARP); !ok || c.VHID != 1 || p.ErrorLayer() != nil {
		t.Errorf("LayerTypeCARP decode: %v", p)
	}
	// Without an IP layer the pseudo-header form cannot be checked.
	p = gopacket.NewPacket(frametest.Unhex(t, vrrp3PseudoVector), carplayers.LayerTypeVRRP, gopacket.Default)
	if v, ok := p.Layer(carplayers.LayerTypeVRRP).(*carplayers.VRRP); !ok || v.VRID != 51 || v.ChecksumChecked || p.ErrorLayer() != nil {
		t.Errorf("LayerTypeVRRP decode: %v", p)
	}
}

type truncFeedback bool

func (f *truncFeedback) SetTruncated() { *f = true }

// TestCARPDecodeFromBytes: Contents is the 36 bytes, Payload what follows;
// both are set once the fields are, that is for a bad checksum but not for
// a short packet, which alone is reported truncated.
func TestCARPDecodeFromBytes(t *testing.T) {
	good := append(frametest.Unhex(t, vector1), 0xde, 0xad)
	bad := append([]byte(nil), good...)
	bad[35] ^= 1
	tests := []struct {
		name              string
		in                []byte
		want              error
		contents, payload []byte
		truncated         bool
	}{
		{"good", good, nil, good[:36], good[36:], false},
		{"bad checksum", bad, carp.ErrChecksum, bad[:36], bad[36:], false},
		{"35 bytes", good[:35], carp.ErrShort, nil, nil, true},
		{"version 3", append([]byte{0x31}, good[1:]...), carp.ErrVersion, nil, nil, false},
	}
	for _, tt := range tests {
		var c carplayers.CARP
		var df truncFeedback
		err := c.DecodeFromBytes(tt.in, &df)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
		if diff := cmp.Diff(tt.contents, c.LayerContents()); diff != "" {
			t.Errorf("%s: LayerContents (-want +got):\n%s", tt.name, diff)
		}
		if diff := cmp.Diff(tt.payload, c.LayerPayload()); diff != "" {
			t.Errorf("%s: LayerPayload (-want +got):\n%s", tt.name, diff)
		}
		if bool(df) != tt.truncated {
			t.Errorf("%s: SetTruncated called = %v, want %v", tt.name, bool(df), tt.truncated)
		}
	}
}

// TestVRRPDecodeFromBytes: Contents is the whole advertisement once the
// fixed fields are filled, even when the length is wrong.
func TestVRRPDecodeFromBytes(t *testing.T) {
	good := frametest.Unhex(t, vrrp3PseudoVector)
	long := append(append([]byte(nil), good...), 0)
	tests := []struct {
		name      string
		in        []byte
		want      error
		contents  []byte
		truncated bool
	}{
		{"good", good, nil, good, false},
		{"trailing byte", long, carp.ErrLength, long, false},
		{"7 bytes", good[:7], carp.ErrShort, nil, true},
		{"version 4", append([]byte{0x41}, good[1:]...), carp.ErrVersion, nil, false},
	}
	for _, tt := range tests {
		v := carplayers.VRRP{VRRP: carp.VRRP{Src: netip.MustParseAddr("192.168.1.1"), Dst: netip.MustParseAddr("224.0.0.18")}}
		var df truncFeedback
		err := v.DecodeFromBytes(tt.in, &df)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
		if diff := cmp.Diff(tt.contents, v.LayerContents()); diff != "" {
			t.Errorf("%s: LayerContents (-want +got):\n%s", tt.name, diff)
		}
		if len(v.LayerPayload()) != 0 {
			t.Errorf("%s: LayerPayload = % x, want none", tt.name, v.LayerPayload())
		}
		if bool(df) != tt.truncated {
			t.Errorf("%s: SetTruncated called = %v, want %v", tt.name, bool(df), tt.truncated)
		}
	}
}

// TestSerializeToOptions: every combination of FixLengths and
// ComputeChecksums. The bytes and resulting fields are those that
// carp.Header.SerializeTo and carp.VRRP.SerializeTo produced before the
// gopacket methods moved here (recorded at commit 66298e3), so the move
// changed nothing: without ComputeChecksums the checksum is written as set;
// without FixLengths the count is written as set and, when computing, the
// checksum covers it.
func TestSerializeToOptions(t *testing.T) {
	a4 := []netip.Addr{netip.MustParseAddr("192.168.1.100"), netip.MustParseAddr("192.168.1.101")}
	a6 := []netip.Addr{netip.MustParseAddr("2001:2::100")}
	src4, dst4 := netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("224.0.0.18")
	src6, dst6 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::12")
	base := carp.VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 7, AdvInt: 100, Checksum: 0x1234}
	with := func(f func(v *carp.VRRP)) carp.VRRP {
		v := base
		f(&v)
		return v
	}
	ins := []carp.VRRP{
		with(func(v *carp.VRRP) {
			v.Version, v.AdvInt, v.Addrs, v.AuthType, v.AuthData = 2, 1, a4, 1, [8]byte{'p', 'w'}
		}),
		with(func(v *carp.VRRP) { v.Addrs, v.Src, v.Dst, v.PseudoHeader = a4, src4, dst4, true }),
		with(func(v *carp.VRRP) { v.Addrs, v.Src, v.Dst = a4, src4, dst4 }),
		with(func(v *carp.VRRP) { v.Addrs, v.Src, v.Dst = a6, src6, dst6 }),
		with(func(v *carp.VRRP) { v.Addrs = a6 }), // IPv6 without addresses: no checksum possible
	}
	type result struct {
		count uint8
		sum   uint16
		hex   string // "": an error
	}
	want := map[[2]bool][]result{ // {FixLengths, ComputeChecksums}
		{false, false}: {
			{7, 0x1234, "2133640701011234c0a80164c0a801657077000000000000"},
			{7, 0x1234, "3133640700641234c0a80164c0a80165"},
			{7, 0x1234, "3133640700641234c0a80164c0a80165"},
			{7, 0x1234, "313364070064123420010002000000000000000000000100"},
			{7, 0x1234, "313364070064123420010002000000000000000000000100"},
		},
		{false, true}: {
			{7, 0x8532, "2133640701018532c0a80164c0a801657077000000000000"},
			{7, 0x440a, "313364070064440ac0a80164c0a80165"},
			{7, 0xe646, "313364070064e646c0a80164c0a80165"},
			{7, 0x4b3f, "3133640700644b3f20010002000000000000000000000100"},
			{7, 0x1234, ""},
		},
		{true, false}: {
			{2, 0x1234, "2133640201011234c0a80164c0a801657077000000000000"},
			{2, 0x1234, "3133640200641234c0a80164c0a80165"},
			{2, 0x1234, "3133640200641234c0a80164c0a80165"},
			{1, 0x1234, "313364010064123420010002000000000000000000000100"},
			{1, 0x1234, "313364010064123420010002000000000000000000000100"},
		},
		{true, true}: {
			{2, 0x8537, "2133640201018537c0a80164c0a801657077000000000000"},
			{2, 0x440f, "313364020064440fc0a80164c0a80165"},
			{2, 0xe64b, "313364020064e64bc0a80164c0a80165"},
			{1, 0x4b45, "3133640100644b4520010002000000000000000000000100"},
			{7, 0x1234, ""},
		},
	}
	for opts, results := range want {
		for i, w := range results {
			v := carplayers.VRRP{VRRP: ins[i]}
			buf := gopacket.NewSerializeBuffer()
			err := v.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: opts[0], ComputeChecksums: opts[1]})
			if (err != nil) != (w.hex == "") {
				t.Errorf("VRRP %d %v: error %v", i, opts, err)
			}
			if got := hex.EncodeToString(buf.Bytes()); got != w.hex || v.CountAddrs != w.count || v.Checksum != w.sum {
				t.Errorf("VRRP %d {FixLengths, ComputeChecksums} = %v: wrote %s, count %d, checksum %#04x; want %s, %d, %#04x",
					i, opts, got, v.CountAddrs, v.Checksum, w.hex, w.count, w.sum)
			}
		}
	}

	h := carp.Header{Version: 2, Type: 1, VHID: 1, AdvSkew: 3, AuthLen: 7, AdvBase: 1, Checksum: 0x1234, Counter: 5}
	for _, tt := range []struct {
		compute bool
		sum     uint16
		hex     string
	}{
		{false, 0x1234, "210103070001123400000000000000050000000000000000000000000000000000000000dead"},
		{true, 0xdbf1, "210103070001dbf100000000000000050000000000000000000000000000000000000000dead"},
	} {
		c := carplayers.CARP{Header: h}
		buf := gopacket.NewSerializeBuffer()
		// A payload serialized first checks that the CARP bytes land where
		// PrependBytes put them, leaving the bytes after them intact.
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: tt.compute}, &c, gopacket.Payload{0xde, 0xad}); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(buf.Bytes()); got != tt.hex || c.Checksum != tt.sum {
			t.Errorf("CARP ComputeChecksums %v: wrote %s, checksum %#04x; want %s, %#04x", tt.compute, got, c.Checksum, tt.hex, tt.sum)
		}
	}
}

// FuzzNewPacket: the gopacket path never panics on a protocol 112 payload,
// alone or inside an IPv4 header (whose addresses the VRRPv3 checksum
// reads); SkipDecodeRecovery lets a panic through instead of turning it
// into a DecodeFailure. The IPv4 header is built here, protocol 112, so
// the fuzzer exercises carp's layers and not gopacket's decoders of other
// protocols (its IPsec ESP decoder panics on a 1-byte payload).
func FuzzNewPacket(f *testing.F) {
	f.Add(frametest.Unhex(f, vector1))
	f.Add(frametest.Unhex(f, vrrp3PseudoVector))
	f.Add([]byte{0x21, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		gopacket.NewPacket(data, carplayers.LayerTypeProto112, gopacket.DecodeOptions{SkipDecodeRecovery: true})
		if len(data) > 0xffff-20 {
			return
		}
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 198, 18, 0, 1, 224, 0, 0, 18}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(data)))
		gopacket.NewPacket(append(ip, data...), layers.LayerTypeIPv4, gopacket.DecodeOptions{SkipDecodeRecovery: true})
	})
}

var (
	_ gopacket.DecodingLayer     = (*carplayers.CARP)(nil)
	_ gopacket.SerializableLayer = (*carplayers.CARP)(nil)
	_ gopacket.DecodingLayer     = (*carplayers.VRRP)(nil)
	_ gopacket.SerializableLayer = (*carplayers.VRRP)(nil)
)

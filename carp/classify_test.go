package carp

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/carpd/carpd/carp/internal/frametest"
)

func TestClassify(t *testing.T) {
	// vrrp2Count5 is a valid VRRPv2 advertisement of 36 bytes, the length
	// of a CARP advertisement.
	v5 := VRRP{Version: 2, Type: 1, VRID: 1, Priority: 100, AdvInt: 1,
		Addrs: addrs("198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5")}
	vrrp2Count5, err := appendVRRP(&v5, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	carp := frametest.Unhex(t, vector1)
	withCARP := func(f func(b []byte)) []byte {
		b := append([]byte(nil), carp...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want Proto
		err  error
	}{
		{"carp", carp, ProtoCARP, nil},
		{"vrrp2", frametest.Unhex(t, vrrp2Vector), ProtoVRRP2, nil},
		{"vrrp2 count 5 (36 bytes)", vrrp2Count5, ProtoVRRP2, nil},
		{"vrrp3 pseudo", frametest.Unhex(t, vrrp3PseudoVector), ProtoVRRP3, nil},
		{"vrrp3 ipv6", frametest.Unhex(t, vrrp3v6Vector), ProtoVRRP3, nil},
		{"empty", nil, ProtoUnknown, ErrShort},
		{"v2 one byte", []byte{0x21}, ProtoUnknown, ErrShort},
		{"v3 seven bytes", frametest.Unhex(t, vrrp3PlainVector)[:7], ProtoUnknown, ErrShort},
		{"version 1", []byte{0x11, 0, 0, 0, 0, 0, 0, 0}, ProtoUnknown, ErrVersion},
		{"version 0", make([]byte, 36), ProtoUnknown, ErrVersion},
		{"carp bad checksum", withCARP(func(b []byte) { b[20] ^= 1 }), ProtoUnknown, ErrAmbiguous},
		{"vrrp2 bad checksum", withCARP(func(b []byte) { copy(b, vrrp2Count5); b[20] ^= 1 }), ProtoUnknown, ErrAmbiguous},
		// Receivers accept CARP with any authlen, but without authlen 7 the
		// payload cannot be told from a damaged VRRPv2 one...
		{"carp authlen 6", withCARP(func(b []byte) { b[3] = 6; fixCARPSum(b) }), ProtoUnknown, ErrAmbiguous},
		// ...and with authlen 5 it is a valid VRRPv2 advertisement: only a
		// protocol hint can decode it as CARP. No implementation sends it.
		{"carp authlen 5", withCARP(func(b []byte) { b[3] = 5; fixCARPSum(b) }), ProtoVRRP2, nil},
		{"carp trailing bytes", append(withCARP(func([]byte) {}), 0, 0), ProtoUnknown, ErrAmbiguous},
		{"vrrp2 trailing bytes", append(frametest.Unhex(t, vrrp2Vector), 0, 0), ProtoUnknown, ErrAmbiguous},
	}
	for _, tt := range tests {
		got, err := Classify(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("%s: Classify = %v, %v; want %v, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

// TestClassifyNoConfusion signs and encodes many random CARP adverts and
// encodes random VRRPv2 adverts of every address count (count 5 being as
// long as CARP), and checks each classifies as what it is, and that the
// other protocol's decoder refuses it where the bytes allow.
func TestClassifyNoConfusion(t *testing.T) {
	src := rand.NewChaCha8([32]byte{1})
	rng := rand.New(src)
	for i := range 2000 {
		pass := make([]byte, rng.IntN(20))
		for j := range pass {
			pass[j] = byte(rng.IntN(255) + 1)
		}
		vhid := uint8(rng.IntN(255) + 1)
		a, err := NewAuth(pass, vhid, []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(i), byte(rng.IntN(256))})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := Header{Version: 2, Type: 1, VHID: vhid, AdvSkew: uint8(rng.IntN(256)), AuthLen: 7,
			Demote: uint8(rng.IntN(256)), AdvBase: uint8(rng.IntN(256)), Counter: rng.Uint64()}
		a.Sign(&h)
		b, _ := h.AppendBinary(nil)
		if p, err := Classify(b); p != ProtoCARP || err != nil {
			t.Fatalf("CARP % x classified as %v, %v", b, p, err)
		}
		var v VRRP
		if err := unmarshalVRRP(&v, b, netip.Addr{}, netip.Addr{}); !errors.Is(err, ErrLength) {
			t.Fatalf("CARP % x decoded as VRRP: %v", b, err)
		}
	}
	for i := range 2000 {
		n := i % 256
		if i >= 256 {
			n = 5 // the 36-byte case gets most of the runs
		}
		v := VRRP{Version: 2, Type: 1, VRID: uint8(rng.IntN(256)), Priority: uint8(rng.IntN(256)),
			AdvInt: uint16(rng.IntN(256)), AuthType: uint8(rng.IntN(3))}
		for range n {
			v.Addrs = append(v.Addrs, netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}))
		}
		_, _ = src.Read(v.AuthData[:])
		b, err := appendVRRP(&v, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := Classify(b); p != ProtoVRRP2 || err != nil {
			t.Fatalf("VRRPv2 % x classified as %v, %v", b, p, err)
		}
	}
}

// TestShape: the length (and for CARP the authlen) decides, checksums do
// not; other versions and short payloads have no shape.
func TestShape(t *testing.T) {
	badSum := func(s string) []byte {
		b := frametest.Unhex(t, s)
		b[len(b)-1] ^= 1
		return b
	}
	authlen6 := frametest.Unhex(t, vector1)
	authlen6[3] = 6
	tests := []struct {
		name string
		in   []byte
		want Proto
	}{
		{"carp", frametest.Unhex(t, vector1), ProtoCARP},
		{"carp bad checksum", badSum(vector1), ProtoCARP},
		{"carp authlen 6", authlen6, ProtoUnknown},
		{"vrrp2", frametest.Unhex(t, vrrp2Vector), ProtoVRRP2},
		{"vrrp2 bad checksum", badSum(vrrp2Vector), ProtoVRRP2},
		{"vrrp2 trailing byte", append(frametest.Unhex(t, vrrp2Vector), 0), ProtoUnknown},
		{"vrrp3", frametest.Unhex(t, vrrp3PseudoVector), ProtoUnknown},
		{"7 bytes", frametest.Unhex(t, vrrp2Vector)[:7], ProtoUnknown},
		{"empty", nil, ProtoUnknown},
	}
	for _, tt := range tests {
		if got := Shape(tt.in); got != tt.want {
			t.Errorf("%s: Shape = %v, want %v", tt.name, got, tt.want)
		}
	}
}

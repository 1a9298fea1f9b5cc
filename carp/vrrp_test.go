package carp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/carp/internal/frametest"
	"github.com/google/go-cmp/cmp"
)

// Vectors reproduced with keepalived's in_csum: VRID 51,
// priority 100, VIP 192.168.1.100, 192.168.1.1 → 224.0.0.18.
const (
	vrrp2Vector       = "21336401 0001 b8bd c0a80164 0000000000000000"
	vrrp3PseudoVector = "31336401 0064 0622 c0a80164"
	vrrp3PlainVector  = "31336401 0064 a85a c0a80164"
	// Computed with the Appendix A csum in Python over the RFC 8200 §8.1
	// pseudo-header: VRID 51, priority 100, 1 s, VIP 2001:2::100,
	// fe80::1 → ff02::12.
	vrrp3v6Vector = "31336401 0064 4b45 20010002000000000000000000000100"
)

func TestVRRPDecodeVectors(t *testing.T) {
	vip4 := addrs("192.168.1.100")
	tests := []struct {
		name     string
		in       string
		src, dst netip.Addr
		want     VRRP
	}{
		{"v2", vrrp2Vector, frametest.Src4, frametest.Dst4, VRRP{
			Version: 2, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 1, Checksum: 0xb8bd,
			Addrs: vip4, ChecksumChecked: true,
		}},
		{"v3 pseudo", vrrp3PseudoVector, frametest.Src4, frametest.Dst4, VRRP{
			Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0x0622,
			Addrs: vip4, PseudoHeader: true, ChecksumChecked: true,
		}},
		{"v3 plain", vrrp3PlainVector, frametest.Src4, frametest.Dst4, VRRP{
			Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0xa85a,
			Addrs: vip4, ChecksumChecked: true,
		}},
		// Without addresses the RFC 9568 form can still be checked...
		{"v3 plain no addrs", vrrp3PlainVector, netip.Addr{}, netip.Addr{}, VRRP{
			Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0xa85a,
			Addrs: vip4, ChecksumChecked: true,
		}},
		// ...the pseudo-header form cannot.
		{"v3 pseudo no addrs", vrrp3PseudoVector, netip.Addr{}, netip.Addr{}, VRRP{
			Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0x0622,
			Addrs: vip4,
		}},
		{"v3 ipv6", vrrp3v6Vector, frametest.Src6, frametest.Dst6, VRRP{
			Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0x4b45,
			Addrs: addrs("2001:2::100"), PseudoHeader: true, ChecksumChecked: true,
		}},
		// A 24-byte v3 payload with count 1 only fits IPv6.
		{"v3 ipv6 inferred", vrrp3v6Vector, netip.Addr{}, netip.Addr{}, VRRP{
			Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0x4b45,
			Addrs: addrs("2001:2::100"),
		}},
	}
	for _, tt := range tests {
		var got VRRP
		if err := unmarshalVRRP(&got, frametest.Unhex(t, tt.in), tt.src, tt.dst); err != nil {
			t.Errorf("%s: UnmarshalBinary: %v", tt.name, err)
		}
		tt.want.Src, tt.want.Dst = tt.src, tt.dst
		if diff := cmp.Diff(tt.want, got, eqAddr); diff != "" {
			t.Errorf("%s: decoded (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestVRRPEncodeVectors(t *testing.T) {
	base := func(ver uint8, adv uint16, src, dst netip.Addr, vips ...string) VRRP {
		return VRRP{Version: ver, Type: 1, VRID: 51, Priority: 100, AdvInt: adv, Addrs: addrs(vips...), Src: src, Dst: dst}
	}
	tests := []struct {
		name   string
		in     VRRP
		pseudo bool
		want   string
	}{
		{"v2", base(2, 1, netip.Addr{}, netip.Addr{}, "192.168.1.100"), false, vrrp2Vector},
		{"v3 pseudo", base(3, 100, frametest.Src4, frametest.Dst4, "192.168.1.100"), true, vrrp3PseudoVector},
		{"v3 plain", base(3, 100, frametest.Src4, frametest.Dst4, "192.168.1.100"), false, vrrp3PlainVector},
		{"v3 plain no addrs", base(3, 100, netip.Addr{}, netip.Addr{}, "192.168.1.100"), false, vrrp3PlainVector},
		// IPv6 always has the pseudo-header, whatever pseudo says.
		{"v3 ipv6", base(3, 100, frametest.Src6, frametest.Dst6, "2001:2::100"), false, vrrp3v6Vector},
	}
	for _, tt := range tests {
		want := frametest.Unhex(t, tt.want)
		got, err := appendVRRP(&tt.in, []byte{0xaa}, tt.pseudo)
		if err != nil {
			t.Errorf("%s: AppendBinary: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(append([]byte{0xaa}, want...), got); diff != "" {
			t.Errorf("%s: AppendBinary (-want +got):\n%s", tt.name, diff)
		}
		if tt.in.CountAddrs != 1 || tt.in.Checksum != uint16(want[6])<<8|uint16(want[7]) {
			t.Errorf("%s: CountAddrs, Checksum = %d, %#04x after AppendBinary", tt.name, tt.in.CountAddrs, tt.in.Checksum)
		}
	}
}

func TestVRRPEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     VRRP
		pseudo bool
		is     error // nil: any error
	}{
		{"version 4", VRRP{Version: 4}, false, ErrVersion},
		{"too many addrs", VRRP{Version: 2, Addrs: make([]netip.Addr, 256)}, false, ErrLength},
		{"v2 interval", VRRP{Version: 2, AdvInt: 256}, false, nil},
		{"v3 interval", VRRP{Version: 3, AdvInt: 4096}, false, nil},
		{"v2 ipv6 addr", VRRP{Version: 2, Addrs: addrs("2001:2::1")}, false, nil},
		{"v3 mixed", VRRP{Version: 3, Src: frametest.Src4, Dst: frametest.Dst4, Addrs: addrs("192.168.1.1", "2001:2::1")}, false, nil},
		{"v3 pseudo no src", VRRP{Version: 3, Addrs: addrs("192.168.1.1")}, true, nil},
		{"v3 ipv6 no dst", VRRP{Version: 3, Src: frametest.Src6, Addrs: addrs("2001:2::1")}, false, nil},
		{"v3 ipv6 v4 dst", VRRP{Version: 3, Src: frametest.Src6, Dst: frametest.Dst4, Addrs: addrs("2001:2::1")}, false, nil},
	}
	for _, tt := range tests {
		in := []byte{1, 2}
		out, err := appendVRRP(&tt.in, in, tt.pseudo)
		if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: AppendBinary error = %v, want %v", tt.name, err, tt.is)
		}
		if diff := cmp.Diff(in, out); diff != "" {
			t.Errorf("%s: buffer changed on error (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestVRRPDecodeErrors(t *testing.T) {
	mod := func(s string, f func(b []byte)) []byte {
		b := frametest.Unhex(t, s)
		f(b)
		return b
	}
	tests := []struct {
		name     string
		in       []byte
		src, dst netip.Addr
		want     error
		wantVRID uint8 // 0 when the fields must be untouched
		checked  bool
	}{
		{"empty", nil, frametest.Src4, frametest.Dst4, ErrShort, 0, false},
		{"7 bytes", frametest.Unhex(t, vrrp2Vector)[:7], frametest.Src4, frametest.Dst4, ErrShort, 0, false},
		{"version 1", mod(vrrp2Vector, func(b []byte) { b[0] = 0x11 }), frametest.Src4, frametest.Dst4, ErrVersion, 0, false},
		{"version 4", mod(vrrp3PlainVector, func(b []byte) { b[0] = 0x41 }), frametest.Src4, frametest.Dst4, ErrVersion, 0, false},
		{"v2 no auth data", frametest.Unhex(t, vrrp2Vector)[:12], frametest.Src4, frametest.Dst4, ErrLength, 51, false},
		{"v2 trailing byte", append(frametest.Unhex(t, vrrp2Vector), 0), frametest.Src4, frametest.Dst4, ErrLength, 51, false},
		{"v2 count 2", mod(vrrp2Vector, func(b []byte) { b[3] = 2 }), frametest.Src4, frametest.Dst4, ErrLength, 51, false},
		{"v3 ipv6 src, ipv4 length", frametest.Unhex(t, vrrp3PlainVector), frametest.Src6, frametest.Dst6, ErrLength, 51, false},
		{"v3 ipv4 src, ipv6 length", frametest.Unhex(t, vrrp3v6Vector), frametest.Src4, frametest.Dst4, ErrLength, 51, false},
		{"v3 neither length", frametest.Unhex(t, vrrp3PlainVector)[:10], netip.Addr{}, netip.Addr{}, ErrLength, 51, false},
		{"v2 bad checksum", mod(vrrp2Vector, func(b []byte) { b[19] = 1 }), frametest.Src4, frametest.Dst4, ErrChecksum, 51, true},
		{"v3 bad checksum", mod(vrrp3PseudoVector, func(b []byte) { b[2] = 99 }), frametest.Src4, frametest.Dst4, ErrChecksum, 51, true},
		// The pseudo-header form with other addresses is wrong, and without
		// one it does not match either.
		{"v3 other src", frametest.Unhex(t, vrrp3PseudoVector), netip.MustParseAddr("192.168.1.2"), frametest.Dst4, ErrChecksum, 51, true},
		{"v3 ipv6 bad checksum", frametest.Unhex(t, vrrp3v6Vector), frametest.Src6, netip.MustParseAddr("ff02::1"), ErrChecksum, 51, true},
	}
	for _, tt := range tests {
		var v VRRP
		err := unmarshalVRRP(&v, tt.in, tt.src, tt.dst)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: UnmarshalBinary error = %v, want %v", tt.name, err, tt.want)
		}
		if v.VRID != tt.wantVRID || v.ChecksumChecked != tt.checked {
			t.Errorf("%s: VRID, ChecksumChecked = %d, %v; want %d, %v", tt.name, v.VRID, v.ChecksumChecked, tt.wantVRID, tt.checked)
		}
	}
}

// TestVRRPReuse decodes into the same struct twice: no field of the first
// packet may survive into the second.
func TestVRRPReuse(t *testing.T) {
	var v VRRP
	if err := v.SetPassword([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	v.Version, v.VRID, v.AdvInt, v.Addrs = 2, 51, 1, addrs("192.168.1.100", "192.168.1.101")
	b, err := appendVRRP(&v, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var got VRRP
	if err := unmarshalVRRP(&got, b, frametest.Src4, frametest.Dst4); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalVRRP(&got, frametest.Unhex(t, vrrp3PseudoVector), frametest.Src4, frametest.Dst4); err != nil {
		t.Fatal(err)
	}
	want := VRRP{
		Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100, Checksum: 0x0622,
		Addrs: addrs("192.168.1.100"), Src: frametest.Src4, Dst: frametest.Dst4, PseudoHeader: true, ChecksumChecked: true,
	}
	if diff := cmp.Diff(want, got, eqAddr); diff != "" {
		t.Errorf("second decode (-want +got):\n%s", diff)
	}
}

func TestVRRPPassword(t *testing.T) {
	v := VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, AdvInt: 1, Addrs: addrs("192.168.1.100")}
	if err := v.SetPassword([]byte("123456789")); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("SetPassword of 9 bytes: %v, want ErrKeyLength", err)
	}
	if err := v.SetPassword([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	b, err := appendVRRP(&v, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// keepalived auth_type PASS: type 1 in byte 4, password zero-padded in
	// the last 8 bytes.
	if b[4] != 1 || string(b[len(b)-8:]) != "secret\x00\x00" {
		t.Errorf("encoded % x: want auth type 1 and \"secret\" padded", b)
	}
	var got VRRP
	if err := unmarshalVRRP(&got, b, frametest.Src4, frametest.Dst4); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pass string
		want error
	}{
		{"secret", nil},
		{"secret\x00", nil}, // padding is not part of the password, but cannot be told from it
		{"secreT", ErrAuth},
		{"secre", ErrAuth},
		{"", ErrAuth},
		{"secret123", ErrKeyLength},
	}
	for _, tt := range tests {
		if err := got.VerifyPassword([]byte(tt.pass)); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("VerifyPassword(%q) = %v, want %v", tt.pass, err, tt.want)
		}
	}
	// No auth: an empty password does not match auth type 0.
	if err := (&VRRP{}).VerifyPassword(nil); !errors.Is(err, ErrAuth) {
		t.Errorf("VerifyPassword on auth type 0 = %v, want ErrAuth", err)
	}
}

func TestVRRPMarshalBinary(t *testing.T) {
	v := VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("192.168.1.100"),
		Src: frametest.Src4, Dst: frametest.Dst4, PseudoHeader: true}
	got, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(frametest.Unhex(t, vrrp3PseudoVector), got); diff != "" {
		t.Errorf("MarshalBinary (-want +got):\n%s", diff)
	}
}

// TestVRRPAppendRaw: CountAddrs and Checksum are written as set, and the
// pseudo-header's addresses are not needed.
func TestVRRPAppendRaw(t *testing.T) {
	v := VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("2001:2::100"),
		CountAddrs: 7, Checksum: 0xbeef}
	got, err := v.AppendRaw([]byte{0xaa})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0xaa}, frametest.Unhex(t, "31336407 0064 beef 20010002000000000000000000000100")...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendRaw (-want +got):\n%s", diff)
	}
	if v.CountAddrs != 7 || v.Checksum != 0xbeef {
		t.Errorf("CountAddrs, Checksum = %d, %#04x after AppendRaw, want them unchanged", v.CountAddrs, v.Checksum)
	}
	if _, err := (&VRRP{Version: 4}).AppendRaw(nil); !errors.Is(err, ErrVersion) {
		t.Errorf("AppendRaw of version 4: %v, want ErrVersion", err)
	}
}

func TestVRRPAdvert(t *testing.T) {
	tests := []struct {
		in   VRRP
		want Advert
	}{
		{VRRP{Version: 2, VRID: 5, Priority: 200, AdvInt: 3, Src: frametest.Src4},
			Advert{Proto: ProtoVRRP2, ID: 5, Src: frametest.Src4, TTL: 255, Priority: 200, Interval: 3 * time.Second}},
		{VRRP{Version: 3, VRID: 6, Priority: 0, AdvInt: 4095, Src: frametest.Src6},
			Advert{Proto: ProtoVRRP3, ID: 6, Src: frametest.Src6, TTL: 255, Priority: 0, Interval: 40950 * time.Millisecond}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.in.Advert(255), eqAddr); diff != "" {
			t.Errorf("Advert (-want +got):\n%s", diff)
		}
	}
}

func TestVRRPDecodeNoAllocs(t *testing.T) {
	data := frametest.Unhex(t, vrrp3v6Vector)
	v := VRRP{Src: frametest.Src6, Dst: frametest.Dst6}
	if n := testing.AllocsPerRun(100, func() { _ = v.UnmarshalBinary(data) }); n != 0 {
		t.Errorf("UnmarshalBinary allocates %v times once warm", n)
	}
}

// unmarshalVRRP decodes b into v as a packet from src to dst.
func unmarshalVRRP(v *VRRP, b []byte, src, dst netip.Addr) error {
	v.Src, v.Dst = src, dst
	return v.UnmarshalBinary(b)
}

// appendVRRP encodes v, with the IPv4 pseudo-header for v3 if pseudo.
func appendVRRP(v *VRRP, b []byte, pseudo bool) ([]byte, error) {
	v.PseudoHeader = pseudo
	return v.AppendBinary(b)
}

package carp

import (
	"testing"

	"github.com/carpd/carpd/carp/internal/frametest"
)

func BenchmarkDecodeCARP(b *testing.B) {
	data := frametest.Unhex(b, vector1)
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := h.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCARP is the CARP receive path: decode, then HMAC check.
func BenchmarkVerifyCARP(b *testing.B) {
	data := frametest.Unhex(b, vector1)
	a := mustAuth(b, "mypassword", 1, addrs("10.1.1.252"), nil)
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := h.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
		if err := a.Verify(&h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignEncodeCARP(b *testing.B) {
	a := mustAuth(b, "mypassword", 1, addrs("10.1.1.252"), nil)
	h := Header{Version: 2, Type: 1, VHID: 1, AuthLen: 7, AdvBase: 1}
	buf := make([]byte, 0, HeaderLen)
	b.ReportAllocs()
	for b.Loop() {
		h.Counter++
		a.Sign(&h)
		buf, _ = h.AppendBinary(buf[:0])
	}
}

func BenchmarkDecodeVRRP3(b *testing.B) {
	data := frametest.Unhex(b, vrrp3PseudoVector)
	v := VRRP{Src: frametest.Src4, Dst: frametest.Dst4}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeVRRP3(b *testing.B) {
	v := VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("192.168.1.100"),
		Src: frametest.Src4, Dst: frametest.Dst4, PseudoHeader: true}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = v.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

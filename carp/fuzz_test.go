package carp

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/carpd/carpd/carp/internal/frametest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Fuzz seeds are the unit vectors plus the payloads of testdata captures.

func unitVectors(t testing.TB) [][]byte {
	return [][]byte{
		frametest.Unhex(t, vector1),
		frametest.Unhex(t, vrrp2Vector),
		frametest.Unhex(t, vrrp3PseudoVector),
		frametest.Unhex(t, vrrp3PlainVector),
		frametest.Unhex(t, vrrp3v6Vector),
	}
}

func FuzzHeader(f *testing.F) {
	for _, v := range unitVectors(f) {
		f.Add(v)
	}
	for _, c := range readCaptures(f, capturesGlob) {
		f.Add(c.payload)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Header
		if err := h.UnmarshalBinary(data); err != nil {
			return
		}
		// Every byte of the header is a field, so encoding restores it,
		// except that a received checksum of 0xffff (one's-complement −0,
		// which verifies as well) is re-encoded in the canonical 0x0000.
		enc, err := h.AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary of a decoded header: %v", err)
		}
		want := bytes.Clone(data[:HeaderLen])
		if want[6] == 0xff && want[7] == 0xff {
			want[6], want[7] = 0, 0
		}
		if diff := cmp.Diff(want, enc); diff != "" {
			t.Fatalf("re-encoded header (-want +got):\n%s", diff)
		}
		var h2 Header
		if err := h2.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding re-encoded header: %v", err)
		}
		if diff := cmp.Diff(h, h2); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// fuzzAddrs maps the fuzzer's family choice to the IP addresses a packet
// arrived with: none, IPv4 or IPv6.
func fuzzAddrs(family uint8) (src, dst netip.Addr) {
	switch family % 3 {
	case 1:
		return frametest.Src4, frametest.Dst4
	case 2:
		return frametest.Src6, frametest.Dst6
	}
	return netip.Addr{}, netip.Addr{}
}

func FuzzVRRP(f *testing.F) {
	for _, v := range unitVectors(f) {
		for family := range uint8(3) {
			f.Add(v, family)
		}
	}
	for _, c := range readCaptures(f, capturesGlob) {
		family := uint8(1)
		if c.src.Is6() {
			family = 2
		}
		f.Add(c.payload, family)
	}
	f.Fuzz(func(t *testing.T, data []byte, family uint8) {
		src, dst := fuzzAddrs(family)
		v := VRRP{Src: src, Dst: dst}
		if err := v.UnmarshalBinary(data); err != nil {
			return
		}
		// Written back field for field, the bytes are the input but for
		// v3's reserved bits, which are not kept.
		raw, err := v.AppendRaw(nil)
		if err != nil {
			t.Fatalf("AppendRaw of a decoded advertisement: %v", err)
		}
		want := append([]byte(nil), data...)
		if v.Version == 3 {
			want[4] &= 0x0f
		}
		if diff := cmp.Diff(want, raw); diff != "" {
			t.Fatalf("re-encoded as is (-want +got):\n%s", diff)
		}
		if !v.ChecksumChecked {
			return // nothing to compute a checksum with
		}
		enc, err := v.AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary of a decoded advertisement: %v", err)
		}
		v2 := VRRP{Src: src, Dst: dst}
		if err := v2.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding re-encoded % x: %v", enc, err)
		}
		// The checksum differs when reserved bits were set.
		if diff := cmp.Diff(v, v2, eqAddr, cmpopts.IgnoreFields(VRRP{}, "Checksum")); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, v := range unitVectors(f) {
		f.Add(v)
	}
	for _, c := range readCaptures(f, capturesGlob) {
		f.Add(c.payload)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		proto, err := Classify(data)
		switch {
		case err != nil:
		case proto == ProtoCARP:
			var h Header
			if err := h.UnmarshalBinary(data); err != nil {
				t.Fatalf("classified as CARP but UnmarshalBinary: %v", err)
			}
		case proto == ProtoVRRP2:
			var v VRRP
			if err := v.UnmarshalBinary(data); err != nil {
				t.Fatalf("classified as VRRPv2 but UnmarshalBinary: %v", err)
			}
		case proto != ProtoVRRP3:
			t.Fatalf("Classify = %v with no error", proto)
		}
	})
}

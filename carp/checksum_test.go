package carp

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestChecksum(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2 with
		// end-around carry; the checksum is its complement.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, ^uint16(0xddf2)},
		// An odd byte counts as the high byte of a zero-padded word.
		{"odd", []byte{0x00, 0x01, 0xf2}, ^uint16(0xf201)},
		{"empty", nil, 0xffff},
		// Carries above 16 bits wrap around: 0xffff + 0x0001 = 0x0001.
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, ^uint16(0x0001)},
	}
	for _, tt := range tests {
		if got := Checksum(tt.in); got != tt.want {
			t.Errorf("%s: Checksum(% x) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestChecksumOK(t *testing.T) {
	b := []byte{0x21, 0x01, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef}
	binary.BigEndian.PutUint16(b[6:], Checksum(b))
	if !checksumOK(b) {
		t.Fatalf("checksumOK(% x) = false after storing the checksum", b)
	}
	b[9] ^= 0x10
	if checksumOK(b) {
		t.Fatalf("checksumOK(% x) = true after flipping a bit", b)
	}
}

// TestChecksumPseudo checks the pseudo-header layouts against the explicit
// byte strings of RFC 768 (IPv4) and RFC 8200 §8.1 (IPv6).
func TestChecksumPseudo(t *testing.T) {
	msg := []byte{0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x64, 0x01}
	tests := []struct {
		src, dst string
		pseudo   []byte
	}{
		{"192.168.1.1", "224.0.0.18", []byte{
			192, 168, 1, 1, 224, 0, 0, 18, 0, 112, 0, byte(len(msg)),
		}},
		{"fe80::1", "ff02::12", []byte{
			0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
			0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12,
			0, 0, 0, byte(len(msg)), 0, 0, 0, 112,
		}},
	}
	for _, tt := range tests {
		src, dst := netip.MustParseAddr(tt.src), netip.MustParseAddr(tt.dst)
		// The pseudo-header is even-sized, so concatenation keeps msg's
		// word alignment.
		want := Checksum(append(append([]byte(nil), tt.pseudo...), msg...))
		if got := checksumPseudo(src, dst, msg); got != want {
			t.Errorf("checksumPseudo(%v, %v) = %#04x, want %#04x", src, dst, got, want)
		}
	}
}

package carp

import (
	"encoding/binary"
	"net/netip"
)

// ipProto is the IP protocol number shared by CARP and VRRP; IANA assigned it
// to VRRP and CARP squats on it.
const ipProto = 112

// Checksum returns the RFC 1071 Internet checksum of b, ready to be written
// into the checksum field: computed over a buffer whose checksum field is
// zero, it is the value to store; over a buffer with a correct checksum
// field, it is 0 (see checksumOK). An odd trailing byte is padded with zero.
func Checksum(b []byte) uint16 {
	return ^fold(sum(0, b))
}

// checksumOK reports whether b, checksum field included, sums to the
// one's-complement −0, which is what a receiver checks.
func checksumOK(b []byte) bool {
	return Checksum(b) == 0
}

// sum adds b as big-endian 16-bit words to the running one's-complement sum
// acc without folding; 64 bits hold the carries of any buffer Checksum can
// be handed.
func sum(acc uint64, b []byte) uint64 {
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces a running sum to 16 bits with end-around carry.
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// pseudoSum returns the unfolded sum of the pseudo-header that VRRPv3
// checksums cover (RFC 5798 §5.2.8). For IPv4 it is src, dst, zero, protocol
// and length (the RFC 768 layout keepalived uses); for IPv6 it is src, dst,
// 32-bit length, three zero bytes and next header (RFC 8200 §8.1). Both lay
// the same values on 16-bit boundaries, so they sum identically apart from
// the address widths. src and dst must be of the same family.
func pseudoSum(src, dst netip.Addr, length int) uint64 {
	var acc uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = sum(sum(0, s[:]), d[:])
	} else {
		s, d := src.As16(), dst.As16()
		acc = sum(sum(0, s[:]), d[:])
	}
	return acc + ipProto + uint64(length>>16) + uint64(length&0xffff)
}

// checksumPseudo is Checksum with the pseudo-header of pseudoSum prepended.
func checksumPseudo(src, dst netip.Addr, b []byte) uint16 {
	return ^fold(sum(pseudoSum(src, dst, len(b)), b))
}

package carp

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

const (
	vrrpFixedLen = 8 // version/type through checksum
	vrrpAuthLen  = 8 // RFC 3768 §5.3.10 Authentication Data, v2 only
	vrrpMaxV3Int = 0x0fff
)

// VRRP is a VRRPv2 (RFC 3768) or VRRPv3 (RFC 5798, RFC 9568) advertisement,
// over IPv4 or, for v3, IPv6. Package carplayers wraps it as a gopacket
// layer.
type VRRP struct {
	Version, Type uint8 // high and low nibble of byte 0: 2 or 3, and 1
	VRID          uint8
	Priority      uint8
	CountAddrs    uint8
	AuthType      uint8  // v2 only: 0 none, 1 simple password (keepalived auth_type PASS)
	AdvInt        uint16 // v2: seconds (byte 5); v3: centiseconds (12 bits)
	Checksum      uint16
	Addrs         []netip.Addr // reused across decodes (appended to Addrs[:0]): zero allocs once warm
	AuthData      [8]byte      // v2 only

	// Src and Dst are the IP addresses the packet travelled with; v3
	// checksums need them. Set them before UnmarshalBinary, or the v3
	// checksum is reported unchecked, and before AppendBinary when the
	// checksum covers a pseudo-header.
	Src, Dst netip.Addr
	// PseudoHeader reports that the checksum covers a pseudo-header: for v3
	// over IPv4, that it matched the keepalived/RFC 5798 form rather than the
	// RFC 9568 one; for v3 over IPv6 it is always true once checked.
	// AppendBinary uses it to pick the IPv4 v3 form.
	PseudoHeader bool
	// ChecksumChecked is false when a v3 checksum could not be checked
	// because Src or Dst is missing. For v3 over IPv4 without addresses a
	// checksum that matches the RFC 9568 form still counts as checked.
	ChecksumChecked bool
}

// UnmarshalBinary decodes a VRRP advertisement, the whole of data, using
// v.Src and v.Dst as set by the caller. It does not retain data.
//
// It returns ErrShort or ErrVersion (not 2 or 3) before touching the
// fields; otherwise it fills the fixed fields and returns ErrLength when
// len(b) is not exactly 8 + CountAddrs·width (+8 auth bytes for v2), or
// fills everything and returns ErrChecksum when the checksum is wrong. Type
// and AuthType are not validated.
//
// The address width is 4 for v2 (IPv4 only). For v3 it follows the family of
// v.Src; when v.Src is not set it is inferred from the length: 4 if it fits
// 4-byte addresses, else 16. The checksum rules are in docs/protocol.md §4:
// v2 sums the whole message with no pseudo-header (RFC 3768 §5.3.8); v3
// over IPv6 always includes one (RFC 5798 §5.2.8); v3 over IPv4 is accepted
// with (keepalived default, RFC 5798) or without (RFC 9568, keepalived
// v3_checksum_as_v2) the pseudo-header, and PseudoHeader records which
// matched.
func (v *VRRP) UnmarshalBinary(data []byte) error {
	if len(data) < vrrpFixedLen {
		return ErrShort
	}
	ver := data[0] >> 4
	if ver != 2 && ver != 3 {
		return ErrVersion
	}
	v.Version, v.Type = ver, data[0]&0x0f
	v.VRID, v.Priority, v.CountAddrs = data[1], data[2], data[3]
	v.Checksum = binary.BigEndian.Uint16(data[6:])
	v.Addrs = v.Addrs[:0]
	v.AuthData = [8]byte{}
	v.PseudoHeader, v.ChecksumChecked = false, false
	if ver == 2 {
		v.AuthType, v.AdvInt = data[4], uint16(data[5])
	} else {
		// RFC 5798 §5.2.4: 4 reserved bits, then 12 bits of centiseconds.
		v.AuthType, v.AdvInt = 0, binary.BigEndian.Uint16(data[4:])&vrrpMaxV3Int
	}

	width := v.decodeWidth(len(data))
	end := vrrpFixedLen + width*int(v.CountAddrs)
	if ver == 2 && len(data) != end+vrrpAuthLen || ver == 3 && len(data) != end {
		return ErrLength
	}
	for p := data[vrrpFixedLen:end]; len(p) > 0; p = p[width:] {
		if width == 4 {
			v.Addrs = append(v.Addrs, netip.AddrFrom4([4]byte(p)))
		} else {
			v.Addrs = append(v.Addrs, netip.AddrFrom16([16]byte(p)))
		}
	}
	if ver == 2 {
		copy(v.AuthData[:], data[end:])
		v.ChecksumChecked = true
		if !checksumOK(data) {
			return ErrChecksum
		}
		return nil
	}
	return v.checkV3(data, width)
}

// decodeWidth returns the address width for a message of n bytes.
func (v *VRRP) decodeWidth(n int) int {
	switch {
	case v.Version == 2:
		return 4
	case v.Src.IsValid():
		if v.Src.Unmap().Is4() {
			return 4
		}
		return 16
	case n == vrrpFixedLen+4*int(v.CountAddrs):
		return 4
	}
	return 16
}

// checkV3 verifies a VRRPv3 checksum and sets PseudoHeader and
// ChecksumChecked.
func (v *VRRP) checkV3(data []byte, width int) error {
	src, dst, ok := v.pseudoAddrs(width)
	if ok && checksumPseudo(src, dst, data) == 0 {
		v.PseudoHeader, v.ChecksumChecked = true, true
		return nil
	}
	if width == 4 && checksumOK(data) {
		v.ChecksumChecked = true
		return nil
	}
	if !ok {
		return nil // cannot tell: the pseudo-header form might be right
	}
	v.ChecksumChecked = true
	return ErrChecksum
}

// pseudoAddrs returns v.Src and v.Dst unmapped if both are valid addresses of
// the family given by width.
func (v *VRRP) pseudoAddrs(width int) (src, dst netip.Addr, ok bool) {
	src, dst = v.Src.Unmap(), v.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != (width == 4) || dst.Is4() != (width == 4) {
		return src, dst, false
	}
	return src, dst, true
}

// AppendBinary appends the encoded advertisement to b
// (encoding.BinaryAppender). It sets v.CountAddrs to len(v.Addrs) and
// computes v.Checksum. For v3 over IPv4, v.PseudoHeader selects the checksum
// with the IPv4 pseudo-header (keepalived default) over the RFC 9568 form;
// IPv6 always has one. Checksums with a pseudo-header use v.Src and v.Dst,
// which must then be set. The family is that of v.Src, or of the first
// address when v.Src is unset; IPv4-mapped addresses are written as IPv4 in
// an IPv4 advertisement and as 16 bytes in an IPv6 one. On error b is
// returned unchanged.
func (v *VRRP) AppendBinary(b []byte) ([]byte, error) {
	width, size, err := v.layout(true)
	if err != nil {
		return b, err
	}
	v.CountAddrs = uint8(len(v.Addrs))
	n := len(b)
	b = append(b, make([]byte, size)...)
	v.put(b[n:], width, true)
	return b, nil
}

// MarshalBinary returns the encoded advertisement, as AppendBinary.
func (v *VRRP) MarshalBinary() ([]byte, error) {
	return v.AppendBinary(nil)
}

// AppendRaw appends v as it is: CountAddrs and Checksum are written
// unchanged rather than derived, so that damaged advertisements can be
// built (tests, and package carplayers for gopacket's SerializeOptions).
// It validates v as AppendBinary does, except that it needs no Src or Dst.
func (v *VRRP) AppendRaw(b []byte) ([]byte, error) {
	width, size, err := v.layout(false)
	if err != nil {
		return b, err
	}
	n := len(b)
	b = append(b, make([]byte, size)...)
	v.put(b[n:], width, false)
	return b, nil
}

// layout validates v for encoding and returns the address width and the
// encoded size. computing says a checksum will be computed, so a v3
// pseudo-header needs Src and Dst.
func (v *VRRP) layout(computing bool) (width, size int, err error) {
	if v.Version != 2 && v.Version != 3 {
		return 0, 0, fmt.Errorf("encoding VRRP version %d: %w", v.Version, ErrVersion)
	}
	if len(v.Addrs) > 255 {
		return 0, 0, fmt.Errorf("encoding %d VRRP addresses, at most 255: %w", len(v.Addrs), ErrLength)
	}
	width = 4
	switch {
	case v.Version == 2:
	case v.Src.IsValid():
		if !v.Src.Unmap().Is4() {
			width = 16
		}
	case len(v.Addrs) > 0 && v.Addrs[0].Is6():
		// Not unmapped: a decoded IPv6 advertisement may carry
		// ::ffff:a.b.c.d and must encode as it came.
		width = 16
	}
	if v.Version == 2 && v.AdvInt > 255 || v.Version == 3 && v.AdvInt > vrrpMaxV3Int {
		return 0, 0, fmt.Errorf("encoding VRRPv%d advertisement interval %d: out of range", v.Version, v.AdvInt)
	}
	for _, a := range v.Addrs {
		if width == 4 && !a.Unmap().Is4() || width == 16 && !a.Is6() {
			return 0, 0, fmt.Errorf("encoding VRRPv%d address %v: family differs from the advertisement's (%d-byte addresses)", v.Version, a, width)
		}
	}
	if computing && v.Version == 3 && (v.PseudoHeader || width == 16) {
		if _, _, ok := v.pseudoAddrs(width); !ok {
			return 0, 0, fmt.Errorf("encoding VRRPv3 checksum: pseudo-header needs Src and Dst of the advertisement's family, have %v and %v", v.Src, v.Dst)
		}
	}
	size = vrrpFixedLen + width*len(v.Addrs)
	if v.Version == 2 {
		size += vrrpAuthLen
	}
	return width, size, nil
}

// put writes v into p, which layout sized. With compute it also computes
// and stores the checksum.
func (v *VRRP) put(p []byte, width int, compute bool) {
	p[0] = v.Version<<4 | v.Type&0x0f
	p[1], p[2], p[3] = v.VRID, v.Priority, v.CountAddrs
	if v.Version == 2 {
		p[4], p[5] = v.AuthType, uint8(v.AdvInt)
	} else {
		binary.BigEndian.PutUint16(p[4:], v.AdvInt)
	}
	binary.BigEndian.PutUint16(p[6:], 0)
	q := p[vrrpFixedLen:]
	for _, a := range v.Addrs {
		if width == 4 {
			b := a.Unmap().As4()
			q = q[copy(q, b[:]):]
		} else {
			b := a.As16()
			q = q[copy(q, b[:]):]
		}
	}
	if v.Version == 2 {
		copy(q, v.AuthData[:])
	}
	if compute {
		if src, dst, ok := v.pseudoAddrs(width); ok && v.Version == 3 && (v.PseudoHeader || width == 16) {
			v.Checksum = checksumPseudo(src, dst, p)
		} else {
			v.Checksum = Checksum(p)
		}
	}
	binary.BigEndian.PutUint16(p[6:], v.Checksum)
}

// SetPassword sets VRRPv2 simple-password authentication (RFC 2338 type 1,
// keepalived auth_type PASS): AuthType 1 and pass zero-padded in AuthData.
// A pass over 8 bytes returns ErrKeyLength, where keepalived would truncate
// it with a warning. It is meaningless for v3, which has no auth data.
func (v *VRRP) SetPassword(pass []byte) error {
	if len(pass) > len(v.AuthData) {
		return fmt.Errorf("VRRP password of %d bytes, at most %d allowed: %w", len(pass), len(v.AuthData), ErrKeyLength)
	}
	v.AuthType = 1
	v.AuthData = [8]byte{}
	copy(v.AuthData[:], pass)
	return nil
}

// VerifyPassword returns nil if v carries simple-password authentication
// with pass, ErrAuth if not, and ErrKeyLength if pass could never have been
// set (over 8 bytes). The comparison is constant-time.
func (v *VRRP) VerifyPassword(pass []byte) error {
	if len(pass) > len(v.AuthData) {
		return fmt.Errorf("VRRP password of %d bytes, at most %d allowed: %w", len(pass), len(v.AuthData), ErrKeyLength)
	}
	var want [8]byte
	copy(want[:], pass)
	if subtle.ConstantTimeCompare(want[:], v.AuthData[:])&subtle.ConstantTimeByteEq(v.AuthType, 1) != 1 {
		return ErrAuth
	}
	return nil
}

// Advert returns the advertisement in protocol-neutral form, with v.Src as
// source and ttl from the IP header. Interval converts AdvInt: seconds for
// v2, centiseconds for v3.
func (v *VRRP) Advert(ttl uint8) Advert {
	a := Advert{
		Proto:    ProtoVRRP2,
		ID:       v.VRID,
		Src:      v.Src,
		TTL:      ttl,
		Priority: v.Priority,
		Interval: time.Duration(v.AdvInt) * time.Second,
	}
	if v.Version == 3 {
		a.Proto, a.Interval = ProtoVRRP3, time.Duration(v.AdvInt)*10*time.Millisecond
	}
	return a
}

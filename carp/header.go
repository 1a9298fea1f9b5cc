package carp

import (
	"encoding/binary"
	"net/netip"
)

// HeaderLen is the size of a CARP advertisement on the wire.
const HeaderLen = 36

// CARP header constants (OpenBSD ip_carp.h: CARP_VERSION, CARP_ADVERTISEMENT,
// and the authlen every sender puts in byte 3).
const (
	carpVersion = 2
	carpAdvert  = 1
	carpAuthLen = 7 // 32-bit words of counter and MD: (8+20)/4
)

// Header is a CARP v2 advertisement as sent by OpenBSD, FreeBSD and ucarp
// (docs/protocol.md §1; OpenBSD ip_carp.h struct carp_header). Package
// carplayers wraps it as a gopacket layer.
type Header struct {
	Version, Type uint8 // high and low nibble of byte 0: 2 and 1
	VHID          uint8
	AdvSkew       uint8
	AuthLen       uint8 // always 7 on the wire; never validated
	Demote        uint8 // OpenBSD demotion counter; FreeBSD and ucarp send 0
	AdvBase       uint8 // seconds
	Checksum      uint16
	Counter       uint64
	MD            [20]byte // HMAC-SHA1, see Auth
}

// UnmarshalBinary decodes a CARP advertisement from the first HeaderLen
// bytes of b; bytes after them are ignored. It returns ErrShort or
// ErrVersion before touching the fields; otherwise it fills every field and
// then reports ErrChecksum if the checksum over the 36 bytes is wrong, so
// tools can still show a damaged packet. Type and AuthLen are not checked:
// no receiver does (OpenBSD, FreeBSD and ucarp carp_input paths). It does
// not retain b.
func (h *Header) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderLen {
		return ErrShort
	}
	if b[0]>>4 != carpVersion {
		return ErrVersion
	}
	h.Version, h.Type = b[0]>>4, b[0]&0x0f
	h.VHID = b[1]
	h.AdvSkew = b[2]
	h.AuthLen = b[3]
	h.Demote = b[4]
	h.AdvBase = b[5]
	h.Checksum = binary.BigEndian.Uint16(b[6:])
	h.Counter = binary.BigEndian.Uint64(b[8:])
	copy(h.MD[:], b[16:HeaderLen])
	// OpenBSD ip_carp.c carp_input: the checksum covers the CARP header
	// only, with no pseudo-header.
	if !checksumOK(b[:HeaderLen]) {
		return ErrChecksum
	}
	return nil
}

// AppendBinary appends the 36-byte advertisement to b and returns the
// extended slice (encoding.BinaryAppender); the error is always nil. It
// computes the checksum, with MD as currently set (call Auth.Sign first),
// and stores it in h.Checksum. The version and type are written as set; a
// zero Header therefore encodes version 0, which no one accepts.
func (h *Header) AppendBinary(b []byte) ([]byte, error) {
	n := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	p := b[n:]
	p[0] = h.Version<<4 | h.Type&0x0f
	p[1] = h.VHID
	p[2] = h.AdvSkew
	p[3] = h.AuthLen
	p[4] = h.Demote
	p[5] = h.AdvBase
	binary.BigEndian.PutUint16(p[6:], 0)
	binary.BigEndian.PutUint64(p[8:], h.Counter)
	copy(p[16:], h.MD[:])
	h.Checksum = Checksum(p)
	binary.BigEndian.PutUint16(p[6:], h.Checksum)
	return b, nil
}

// MarshalBinary returns the 36-byte advertisement, as AppendBinary.
func (h *Header) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, HeaderLen))
}

// Advert returns the advertisement in protocol-neutral form. src and ttl
// come from the IP header the packet arrived with. Interval and Priority are
// VRRP fields and stay zero: CARP's timing is AdvBase and AdvSkew.
func (h *Header) Advert(src netip.Addr, ttl uint8) Advert {
	return Advert{
		Proto:   ProtoCARP,
		ID:      h.VHID,
		Src:     src,
		TTL:     ttl,
		AdvBase: h.AdvBase,
		AdvSkew: h.AdvSkew,
		Demote:  h.Demote,
	}
}

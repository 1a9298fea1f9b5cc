package carp

import (
	"errors"
	"net/netip"
	"time"
)

// Proto is the protocol a virtual router speaks. CARP and VRRPv2 share IP
// protocol 112, group 224.0.0.18 and the first header byte 0x21, so the
// decoder is told which one to expect; ProtoUnknown asks it to tell them
// apart by the rule documented on Classify.
type Proto uint8

// Protocols.
const (
	ProtoUnknown Proto = iota
	ProtoCARP
	ProtoVRRP2
	ProtoVRRP3
)

func (p Proto) String() string {
	switch p {
	case ProtoCARP:
		return "carp"
	case ProtoVRRP2:
		return "vrrp2"
	case ProtoVRRP3:
		return "vrrp3"
	}
	return "unknown"
}

// State is a virtual router's role.
type State uint8

// States, numbered as OpenBSD's CARP_STATES (INIT 0, BACKUP 1, MASTER 2).
const (
	Init State = iota
	Backup
	Master
)

func (s State) String() string {
	switch s {
	case Init:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	}
	return "UNKNOWN"
}

// Errors returned by the decoders and verifiers. The daemon counts dropped
// packets per error, so each names one reason.
var (
	ErrShort     = errors.New("packet too short")
	ErrVersion   = errors.New("unsupported version")
	ErrType      = errors.New("not an advertisement")
	ErrChecksum  = errors.New("bad checksum")
	ErrAuth      = errors.New("authentication failed")
	ErrAmbiguous = errors.New("cannot tell CARP from VRRPv2")
	ErrLength    = errors.New("length does not match address count")
	ErrTTL       = errors.New("TTL is not 255")
	ErrID        = errors.New("vhid/vrid not configured")
	ErrLoop      = errors.New("own advertisement looped back")
	ErrKeyLength = errors.New("password too long")
	ErrInterval  = errors.New("advertisement interval mismatch")
	// ErrReplay is a carpd counter not above the last one seen from its
	// sender (see ReplayWindow).
	ErrReplay = errors.New("replayed advertisement")
	// ErrSource is an advert from an address the router does not accept
	// from (accept_from, unicast peers).
	ErrSource = errors.New("source address not accepted")
	// ErrBowOut is a bow-out (CARP advbase 255 advskew 255, VRRP
	// priority 0, or any timing that makes the master time out) from an
	// address that is not the current master's.
	ErrBowOut = errors.New("bow-out from a node that is not the master")
)

// Advert is one advertisement in protocol-neutral form: what the state
// machine consumes from the wire and what it asks to be sent.
type Advert struct {
	Proto Proto
	ID    uint8      // vhid (CARP) or VRID (VRRP)
	Src   netip.Addr // IP source; the VRRP tie-break and reasons use it
	TTL   uint8      // IP TTL / hop limit as received; 0 when unknown

	// CARP fields.
	AdvBase uint8
	AdvSkew uint8
	Demote  uint8

	// VRRP fields. Interval is the real advertisement interval; on the
	// wire it travels as whole seconds (v2) or centiseconds (v3).
	Priority uint8
	Interval time.Duration
}

// Group returns the multicast group advertisements go to: 224.0.0.18, or
// ff02::12 for IPv6 (RFC 5798 §5.1.1.2 and §5.1.2.2; CARP uses the same
// ones, OpenBSD ip_carp.h INADDR_CARP_GROUP).
func Group(ipv6 bool) netip.Addr {
	if ipv6 {
		return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
	}
	return netip.AddrFrom4([4]byte{224, 0, 0, 18})
}

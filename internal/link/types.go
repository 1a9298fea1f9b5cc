package link

// The types here are what the daemon exchanges with this package. They
// carry no build tag, unlike the sockets and netlink code, so code that
// only handles packets and events builds on every platform.

import (
	"errors"
	"fmt"
	"net/netip"
)

// Packet is one received advertisement.
type Packet struct {
	// Src and Dst are the IP source and destination, without zone.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit the packet arrived with; the
	// caller drops and counts anything but 255.
	TTL uint8
	// IfIndex is the interface the packet arrived on.
	IfIndex int
	// Payload is the protocol 112 payload; it aliases the buffer given to
	// ReadPacket.
	Payload []byte
}

// EventKind says what changed.
type EventKind uint8

// The kinds of Event.
const (
	LinkUp EventKind = iota + 1
	LinkDown
	AddrAdded
	AddrRemoved
)

// String names the kind as logs show it.
func (k EventKind) String() string {
	switch k {
	case LinkUp:
		return "link-up"
	case LinkDown:
		return "link-down"
	case AddrAdded:
		return "addr-added"
	case AddrRemoved:
		return "addr-removed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is a change on a watched interface. Addr is set for AddrAdded and
// AddrRemoved.
type Event struct {
	Kind  EventKind
	Iface string
	Addr  netip.Prefix
}

// ErrHeld wraps the end of a claim watch (ClaimWatch.Await) that saw a VIP
// held by another host, its answer to the watch's probe, but no
// announcement of it.
var ErrHeld = errors.New("held by another host, not announced")

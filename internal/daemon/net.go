package daemon

import (
	"context"
	"github.com/carpd/carpd/internal/link"
	"net/netip"

	"github.com/carpd/carpd/carp"
)

// Net is everything the daemon needs from the operating system's network
// stack. NewLinux (net_linux.go) implements it with internal/link; tests use
// an in-memory segment. Implementations must be safe for concurrent use.
type Net interface {
	// Listen opens the protocol 112 socket of one interface and family
	// (4 or 6), shared by every virtual router that matches o.
	Listen(iface string, family int, o ListenOptions) (PacketConn, error)
	// Addrs returns the address set of iface, for VIPs.
	Addrs(iface string) (AddrSet, error)
	// Announcer returns a sender of gratuitous ARP / unsolicited NA on
	// iface.
	Announcer(iface string) (Announcer, error)
	// Primary returns the address iface sends from for family (4 or 6):
	// the primary IPv4 address, or the IPv6 link-local address.
	Primary(iface string, family int) (netip.Addr, error)
	// Label returns the address label our VIPs carry on iface, so
	// leftovers can be found again after a crash.
	Label(iface string, p carp.Proto, id uint8) string
	// LinkUp reports whether iface exists and has carrier. A missing
	// interface is an error.
	LinkUp(iface string) (bool, error)
	// Watch reports link and address changes of ifaces on ch until ctx is
	// done. It must not block on a slow reader for long; the daemon
	// reads ch promptly.
	Watch(ctx context.Context, ifaces []string, ch chan<- link.Event) error
	// WatchClaims opens a watch for another host's gratuitous ARP or
	// unsolicited NA on iface.
	WatchClaims(iface string) (ClaimWatch, error)
}

// ClaimWatch waits for another host to announce an address we hold.
type ClaimWatch interface {
	// Await returns nil once another host announces one of vips
	// (gratuitous ARP for IPv4, unsolicited NA for IPv6), or ctx's error.
	Await(ctx context.Context, vips []netip.Addr) error
	Close() error
}

// ListenOptions says how a shared socket is opened.
type ListenOptions struct {
	// Src is the source address; zero means the interface's primary one.
	Src netip.Addr
	// Group is the multicast group to join and send to (224.0.0.18,
	// ff02::12, or ucarp --mcast).
	Group netip.Addr
	// Unicast leaves the group alone: adverts go to configured peers
	// (keepalived unicast_peer, OpenBSD carppeer).
	Unicast bool
}

// PacketConn is a shared protocol 112 socket. Close unblocks a pending
// ReadPacket, which then returns an error.
type PacketConn interface {
	ReadPacket(buf []byte) (link.Packet, error)
	WriteTo(payload []byte, dst netip.Addr) error
	Src() netip.Addr
	Close() error
}

// AddrSet adds and removes the virtual addresses of one interface. Both
// are idempotent: adding a present address and removing an absent one
// succeed.
type AddrSet interface {
	Add(vip netip.Prefix, label string) error
	Remove(vip netip.Prefix) error
	Has(addr netip.Addr) (bool, error)
}

// LabelLister is implemented by AddrSets that can list the addresses
// carrying a label; start-up then also removes leftovers whose VIP is no
// longer configured.
type LabelLister interface {
	Labeled(label string) ([]netip.Prefix, error)
}

// Announcer sends one round of gratuitous ARP (IPv4) or unsolicited
// neighbour advertisements (IPv6) for the addresses.
type Announcer interface {
	Announce(vips []netip.Addr) error
	Close() error
}

//go:build linux

// Package link is carpd's Linux edge: the raw IP protocol 112 socket that
// carries CARP and VRRP advertisements, the virtual addresses (VIPs) added
// and removed with netlink, the gratuitous ARP and unsolicited neighbour
// advertisements that move them, and netlink watches on link state and
// addresses.
//
// The package does I/O only. It holds no protocol policy: it does not decode
// advertisements, check TTLs against the RFC, demultiplex virtual routers,
// choose how often to announce, or decide what a link-down event means. The
// caller (internal/daemon) does, fed by carp.Machine.
//
// Every constructor works in the network namespace of the calling OS thread:
// sockets and netlink handles are bound to that namespace when they are
// opened and keep it afterwards, whichever thread later uses them. Tests and
// callers that enter a namespace lock the OS thread, open, and restore the
// thread's namespace before unlocking (docs/design.md §5.7).
//
// Each constructor that opens a socket (Listen, NewAnnouncer,
// NewClaimWatch) is a thin wrapper over an unexported one that takes the
// socket as a small interface, as mdlayher/arp's New takes a
// net.PacketConn: the logic around the sockets is unit-tested with
// in-memory fakes and no root, and the lab tests prove the real sockets.
package link

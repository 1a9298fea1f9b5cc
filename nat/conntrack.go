//go:build linux

package nat

// This is the only file that uses the conntrack API of vishvananda/netlink;
// sockdiag.go builds the socket destroy requests.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// dumpAttempts bounds how often FlushConntrack dumps the table again when
// the kernel reports that a dump was interrupted by concurrent changes.
const dumpAttempts = 5

// FlushConntrack deletes the connection tracking entries of TCP flows whose
// original destination is vip and one of ports, and returns how many it
// deleted. NAT is decided on a flow's first packet and cached in its entry,
// so after the DNAT rules change, old flows keep their old mapping until
// their entries go (docs/design.md §5.5); deleting them makes clients of the old
// master get a reset and reconnect instead of hanging. Call it on promotion
// and on demotion, after Apply or Remove.
//
// Of opts only WithNetNS applies. The kernel table is dumped whole into user
// space and each match deleted by its own request, so the cost grows with
// the table. A dump interrupted by concurrent changes is retried a few
// times; entries that vanish on their own meanwhile count as deleted.
func FlushConntrack(vip netip.Addr, ports []uint16, opts ...Option) (deleted uint, err error) {
	vip = vip.Unmap()
	if !vip.IsValid() || vip.Zone() != "" {
		return 0, fmt.Errorf("flushing conntrack: invalid address %v", vip)
	}
	if len(ports) == 0 {
		return 0, nil
	}
	filters := make([]netlink.CustomConntrackFilter, 0, len(ports))
	for _, p := range ports {
		f, err := conntrackFilter(vip, p)
		if err != nil {
			return 0, fmt.Errorf("flushing conntrack for %s: %w", netip.AddrPortFrom(vip, p), err)
		}
		filters = append(filters, f)
	}
	h, err := conntrackHandle(New(opts...).netns)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	family := netlink.InetFamily(unix.AF_INET)
	if vip.Is6() {
		family = unix.AF_INET6
	}
	for range dumpAttempts {
		n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, family, filters...)
		deleted += n
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			if err != nil {
				return deleted, fmt.Errorf("flushing conntrack for %s: %w", vip, err)
			}
			return deleted, nil
		}
	}
	return deleted, fmt.Errorf("flushing conntrack for %s: %w (%d attempts)", vip, netlink.ErrDumpInterrupted, dumpAttempts)
}

// conntrackFilter matches TCP flows to vip:port. The protocol goes first:
// AddPort fails unless a layer-4 protocol is already set (docs/design.md §5.5).
func conntrackFilter(vip netip.Addr, port uint16) (*netlink.ConntrackFilter, error) {
	f := &netlink.ConntrackFilter{}
	if err := f.AddProtocol(unix.IPPROTO_TCP); err != nil {
		return nil, err
	}
	if err := f.AddIP(netlink.ConntrackOrigDstIP, vip.AsSlice()); err != nil {
		return nil, err
	}
	if err := f.AddPort(netlink.ConntrackOrigDstPort, port); err != nil {
		return nil, err
	}
	return f, nil
}

// conntrackHandle opens a netfilter netlink socket in the namespace fd refers
// to, or in the caller's namespace when fd is 0.
func conntrackHandle(fd int) (*netlink.Handle, error) {
	var (
		h   *netlink.Handle
		err error
	)
	if fd == 0 {
		h, err = netlink.NewHandle(unix.NETLINK_NETFILTER)
	} else {
		h, err = netlink.NewHandleAt(netns.NsHandle(fd), unix.NETLINK_NETFILTER)
	}
	if err != nil {
		return nil, fmt.Errorf("opening conntrack netlink socket: %w", err)
	}
	return h, nil
}

// ResetClients aborts the local TCP sockets that serve flows whose original
// destination is vip and one of ports and whose reply comes from to, the
// DNAT target: the broker's end of every client connection that came in
// through the VIP. The kernel answers each abort with a reset, which the
// connection's conntrack entry still translates back to the VIP, so the
// client learns at once that its connection is gone and reconnects, to
// whichever node holds the VIP by then. Without it an idle client (a
// subscriber waiting for messages) notices only at its next retransmission
// or keepalive, after the conntrack flush left its packets unanswered.
//
// Call it on leaving MASTER while the DNAT table still exists: with
// nftables the NAT hooks are registered only while some nat chain is, so
// once carpd's table is gone established flows are no longer translated
// and the reset would leave with the static address, which the client
// ignores. Then remove the DNAT rules and FlushConntrack. Sockets that
// vanished meanwhile are not errors. vip and to are of one family: IPv4
// or IPv6 (the ip6 DNAT table, sockets of AF_INET6). It needs
// CONFIG_INET_DIAG_DESTROY; without it the error says so and nothing else
// changes. Of opts only WithNetNS applies.
func ResetClients(vip netip.Addr, ports []uint16, to netip.Addr, opts ...Option) (reset uint, err error) {
	vip, to = vip.Unmap(), to.Unmap()
	if !vip.IsValid() || !to.IsValid() {
		return 0, fmt.Errorf("resetting clients: invalid address %v or %v", vip, to)
	}
	if vip.Is6() != to.Is6() {
		return 0, fmt.Errorf("resetting clients: %v and %v are of different families", vip, to)
	}
	family := netlink.InetFamily(unix.AF_INET)
	if vip.Is6() {
		family = unix.AF_INET6
	}
	ns := New(opts...).netns
	ct, err := conntrackHandle(ns)
	if err != nil {
		return 0, err
	}
	defer ct.Close()
	var flows []*netlink.ConntrackFlow
	for range dumpAttempts {
		flows, err = ct.ConntrackTableList(netlink.ConntrackTable, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("resetting clients of %s: listing conntrack: %w", vip, err)
	}
	diag, err := openDiag(ns)
	if err != nil {
		return 0, err
	}
	defer diag.Close()
	var errs []error
	for _, f := range flows {
		local, remote, ok := servedVia(f, vip, ports, to)
		if !ok {
			continue
		}
		switch err := diag.destroy(local, remote); {
		case err == nil:
			reset++
		case errors.Is(err, unix.ENOENT):
			// Closed since the dump: nothing left to reset.
		case errors.Is(err, unix.EOPNOTSUPP):
			return reset, fmt.Errorf("resetting clients of %s: the kernel cannot destroy sockets "+
				"(CONFIG_INET_DIAG_DESTROY): %w", vip, err)
		default:
			errs = append(errs, fmt.Errorf("resetting %v ↔ %v: %w", local, remote, err))
		}
	}
	return reset, errors.Join(errs...)
}

// servedVia reports whether f is a TCP flow to vip on one of ports that
// DNAT sent to to, and if so the local (broker) and remote (client) ends
// of the socket serving it, from the reply direction.
func servedVia(f *netlink.ConntrackFlow, vip netip.Addr, ports []uint16, to netip.Addr) (local, remote netip.AddrPort, ok bool) {
	// Only established flows have a socket worth resetting; a flow that
	// saw a reset or FIN lingers in the table without one.
	if tcp, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); f.Forward.Protocol != unix.IPPROTO_TCP || !ok ||
		tcp.State != tcpConntrackEstablished {
		return local, remote, false
	}
	dst, _ := netip.AddrFromSlice(f.Forward.DstIP)
	src, _ := netip.AddrFromSlice(f.Reverse.SrcIP)
	if dst.Unmap() != vip || src.Unmap() != to || !slices.Contains(ports, f.Forward.DstPort) {
		return local, remote, false
	}
	client, _ := netip.AddrFromSlice(f.Reverse.DstIP)
	local = netip.AddrPortFrom(to, f.Reverse.SrcPort)
	remote = netip.AddrPortFrom(client.Unmap(), f.Reverse.DstPort)
	return local, remote, remote.Addr().Is6() == to.Is6()
}

// tcpConntrackEstablished is the kernel's TCP_CONNTRACK_ESTABLISHED.
const tcpConntrackEstablished = 3

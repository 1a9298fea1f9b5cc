//go:build linux

package nat

// This is the only file that uses the conntrack API of vishvananda/netlink.

import (
	"errors"
	"fmt"
	"net/netip"

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
// their entries go (PITFALLS §B.7); deleting them makes clients of the old
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
// AddPort fails unless a layer-4 protocol is already set (PITFALLS §B.7).
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

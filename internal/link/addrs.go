//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// labelMax is the longest IPv4 address label: IFNAMSIZ less the NUL. The
// kernel refuses longer ones with ERANGE (ClusterLabs/resource-agents#717).
const labelMax = unix.IFNAMSIZ - 1

// Label returns the IPv4 address label of a VIP of virtual router id
// speaking proto ("carp", "vrrp") on ifname: "eth0:carp7" as ucarp and
// ifconfig users expect, shortened to "eth0:c7" when that does not fit in
// 15 bytes. It starts with the interface name so `ip addr` and ifconfig
// list it as an alias of the interface.
func Label(ifname, proto string, id uint8) (string, error) {
	if ifname == "" || proto == "" {
		return "", fmt.Errorf("labelling VIP: empty interface name or protocol")
	}
	long := fmt.Sprintf("%s:%s%d", ifname, proto, id)
	if len(long) <= labelMax {
		return long, nil
	}
	short := fmt.Sprintf("%s:%s%d", ifname, proto[:1], id)
	if len(short) <= labelMax {
		return short, nil
	}
	return "", fmt.Errorf("labelling VIP: %q is longer than %d bytes even shortened to %q; use a shorter label or none",
		long, labelMax, short)
}

// isVIPLabel reports whether label has the form Label gives, on any
// interface: "…:carpN", "…:vrrpN", "…:cN" or "…:vN".
func isVIPLabel(label string) bool {
	i := strings.LastIndexByte(label, ':')
	if i < 0 {
		return false
	}
	rest := label[i+1:]
	for _, p := range []string{"carp", "vrrp", "c", "v"} {
		if id, ok := strings.CutPrefix(rest, p); ok {
			n, err := strconv.ParseUint(id, 10, 8)
			return err == nil && id == strconv.FormatUint(n, 10)
		}
	}
	return false
}

// Addrs adds and removes VIPs on one interface. It holds a netlink handle
// bound to the network namespace it was created in.
type Addrs struct {
	ifname string
	h      *netlink.Handle
	raw    *nl.SocketHandle // requests the library cannot build (addrproto.go)

	mu    sync.Mutex
	added map[netip.Addr]bool // VIPs added through a, never primaries
}

// NewAddrs opens a netlink handle in the calling thread's namespace for
// ifname, which must exist.
func NewAddrs(ifname string) (*Addrs, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink handle for %s: %w", ifname, err)
	}
	raw, err := openRaw()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("opening netlink socket for %s: %w", ifname, err)
	}
	a := &Addrs{ifname: ifname, h: h, raw: raw, added: make(map[netip.Addr]bool)}
	if _, err := a.link(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the netlink handle and socket.
func (a *Addrs) Close() error {
	a.h.Close()
	a.raw.Close()
	return nil
}

// link looks the interface up each time, so a recreated interface (new
// index, same name) is followed.
func (a *Addrs) link() (netlink.Link, error) {
	l, err := a.h.LinkByName(a.ifname)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", a.ifname, err)
	}
	return l, nil
}

// nlAddr builds the netlink address for vip. docs/design.md §5.3: a prefix
// shorter than the host length would add a prefix route, so it gets
// IFA_F_NOPREFIXROUTE; IPv6 VIPs skip DAD (a handover overlapping with the
// old master would otherwise leave the address dadfailed, kube-vip#523) and
// are deprecated (preferred lifetime 0, valid forever) so the kernel does
// not pick them as source addresses (kube-vip#1198).
func nlAddr(vip netip.Prefix, label string) *netlink.Addr {
	ip := vip.Addr()
	na := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(vip.Bits(), ip.BitLen())}}
	if vip.Bits() < ip.BitLen() {
		na.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if ip.Is6() {
		na.Flags |= unix.IFA_F_NODAD
		na.ValidLft = 0xffffffff // INFINITY_LIFE_TIME
		na.PreferedLft = 0
	} else {
		na.Label = label
	}
	return na
}

// unmap turns an IPv4-mapped prefix into the IPv4 prefix it stands for.
func unmap(vip netip.Prefix) (netip.Prefix, error) {
	if vip.IsValid() && vip.Addr().Is4In6() {
		vip = netip.PrefixFrom(vip.Addr().Unmap(), vip.Bits()-96)
	}
	if !vip.IsValid() || vip.Addr().Zone() != "" {
		return netip.Prefix{}, errors.New("invalid prefix")
	}
	return vip, nil
}

// Add puts vip on the interface, or refreshes it if it is there
// (a replace is idempotent where an add returns EEXIST), marked with
// AddrProto. The caller
// chooses the prefix, /32 or /128 by default. label applies to IPv4 only
// (see Label); "" means none.
func (a *Addrs) Add(vip netip.Prefix, label string) error {
	p, err := unmap(vip)
	if err != nil {
		return fmt.Errorf("adding VIP %s to %s: %w", vip, a.ifname, err)
	}
	vip = p
	if len(label) > labelMax {
		return fmt.Errorf("adding VIP %s to %s: label %q longer than %d bytes", vip, a.ifname, label, labelMax)
	}
	l, err := a.link()
	if err != nil {
		return fmt.Errorf("adding VIP %s: %w", vip, err)
	}
	if err := a.replace(l.Attrs().Index, nlAddr(vip, label)); err != nil {
		return fmt.Errorf("adding VIP %s to %s: %w", vip, a.ifname, err)
	}
	a.mu.Lock()
	a.added[vip.Addr()] = true
	a.mu.Unlock()
	return nil
}

// Remove deletes vip, which must have the prefix length it was added with.
// A VIP that is not there counts as removed.
func (a *Addrs) Remove(vip netip.Prefix) error {
	p, err := unmap(vip)
	if err != nil {
		return fmt.Errorf("removing VIP %s from %s: %w", vip, a.ifname, err)
	}
	vip = p
	l, err := a.link()
	if err != nil {
		return fmt.Errorf("removing VIP %s: %w", vip, err)
	}
	na := nlAddr(vip, "")
	na.Flags, na.ValidLft = 0, 0 // the kernel matches address and prefix only
	err = a.h.AddrDel(l, na)
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing VIP %s from %s: %w", vip, a.ifname, err)
	}
	a.mu.Lock()
	delete(a.added, vip.Addr())
	a.mu.Unlock()
	return nil
}

// Has reports whether vip is on the interface, with any prefix length.
func (a *Addrs) Has(vip netip.Addr) (bool, error) {
	vip = vip.Unmap()
	list, err := a.list(FamilyOf(vip))
	if err != nil {
		return false, err
	}
	for _, na := range list {
		if ipAddr(na.IP) == vip {
			return true, nil
		}
	}
	return false, nil
}

func (a *Addrs) list(family Family) ([]netlink.Addr, error) {
	l, err := a.link()
	if err != nil {
		return nil, err
	}
	list, err := a.h.AddrList(l, nlFamily(family))
	if err != nil {
		return nil, fmt.Errorf("listing %s addresses of %s: %w", family, a.ifname, err)
	}
	return list, nil
}

// Primary returns the interface's own address for family, the source of
// advertisements: the first IPv4 address that is neither secondary nor a
// VIP, or the IPv6 link-local address (RFC 5798 §5.1.2.1). A VIP is an
// address added through a, or one labelled as Label labels them.
func (a *Addrs) Primary(family Family) (netip.Addr, error) {
	list, err := a.list(family)
	if err != nil {
		return netip.Addr{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return pickPrimary(a.ifname, family, list, a.added)
}

// primaryOf is Primary for a one-off lookup in the calling thread's
// namespace.
func primaryOf(ifname string, family Family, vips map[netip.Addr]bool) (netip.Addr, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("looking up %s: %w", ifname, err)
	}
	list, err := netlink.AddrList(l, nlFamily(family))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing %s addresses of %s: %w", family, ifname, err)
	}
	return pickPrimary(ifname, family, list, vips)
}

// pickPrimary chooses the primary address from list. An IPv6 link-local
// address still in DAD (tentative) is only a fallback: it cannot be used as
// a source yet.
func pickPrimary(ifname string, family Family, list []netlink.Addr, vips map[netip.Addr]bool) (netip.Addr, error) {
	var tentative netip.Addr
	for _, na := range list {
		ip := ipAddr(na.IP)
		switch {
		case vips[ip], na.Flags&unix.IFA_F_DADFAILED != 0:
			continue
		case family == IPv4 && ip.Is4():
			if na.Flags&unix.IFA_F_SECONDARY == 0 && !isVIPLabel(na.Label) {
				return ip, nil
			}
		case family == IPv6 && ip.Is6() && ip.IsLinkLocalUnicast():
			if na.Flags&unix.IFA_F_TENTATIVE == 0 {
				return ip, nil
			}
			if !tentative.IsValid() {
				tentative = ip
			}
		}
	}
	if tentative.IsValid() {
		return tentative, nil
	}
	if family == IPv6 {
		return netip.Addr{}, fmt.Errorf("%s has no IPv6 link-local address", ifname)
	}
	return netip.Addr{}, fmt.Errorf("%s has no primary IPv4 address", ifname)
}

func nlFamily(f Family) int {
	if f == IPv6 {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

// InterfaceAddrs lists the addresses of ifname that carpd did not add, with
// their prefix lengths, in the calling thread's namespace: `carpd check`
// compares VIPs against them and their subnets, and must not mistake a
// running master's VIPs for the interface's own.
// A VIP is recognised the way Add leaves it: an IPv4 label from Label, or
// IPv6 with IFA_F_NODAD and preferred lifetime 0 (which the kernel reports
// as IFA_F_DEPRECATED).
func InterfaceAddrs(ifname string) ([]netip.Prefix, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", ifname, err)
	}
	list, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", ifname, err)
	}
	var out []netip.Prefix
	for _, na := range list {
		ip := ipAddr(na.IP)
		const v6VIP = unix.IFA_F_NODAD | unix.IFA_F_DEPRECATED
		if !ip.IsValid() || isVIPLabel(na.Label) || ip.Is6() && na.Flags&v6VIP == v6VIP {
			continue
		}
		bits := ip.BitLen()
		if na.IPNet != nil {
			ones, total := na.Mask.Size()
			if total == 128 && ip.Is4() {
				ones -= 96
			}
			if total != 0 && ones >= 0 {
				bits = ones
			}
		}
		out = append(out, netip.PrefixFrom(ip, bits))
	}
	return out, nil
}

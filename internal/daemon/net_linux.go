//go:build linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/link"
	"github.com/vishvananda/netlink"
)

// linuxNet implements Net with internal/link in the calling thread's
// network namespace.
type linuxNet struct{}

// NewLinux returns the Net of the running system.
func NewLinux() Net { return linuxNet{} }

func (linuxNet) Listen(iface string, family int, o ListenOptions) (PacketConn, error) {
	c, err := link.Listen(iface, link.Family(family), link.Options{Src: o.Src, Group: o.Group, Unicast: o.Unicast})
	if err != nil {
		return nil, err
	}
	return conn{c}, nil
}

// conn adds the socket drop reasons to link.Conn.
type conn struct{ *link.Conn }

// Dropped reports what link discarded before the daemon saw it, as socket
// drop reasons.
func (c conn) Dropped() map[string]uint64 {
	iface, group := c.Conn.DroppedBy()
	return map[string]uint64{"iface": iface, "group": group}
}

func (linuxNet) Addrs(iface string) (AddrSet, error) {
	a, err := link.NewAddrs(iface)
	if err != nil {
		return nil, err
	}
	return addrs{Addrs: a, iface: iface}, nil
}

// addrs adds listing by label to link.Addrs, for the start-up reconcile.
type addrs struct {
	*link.Addrs
	iface string
}

// Labeled returns the addresses of the interface carrying label (IPv4
// only: the kernel labels no IPv6 address).
func (a addrs) Labeled(label string) ([]netip.Prefix, error) {
	l, err := netlink.LinkByName(a.iface)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", a.iface, err)
	}
	list, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", a.iface, err)
	}
	var out []netip.Prefix
	for _, na := range list {
		if na.Label != label || na.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(na.IP)
		if !ok {
			continue
		}
		ones, _ := na.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

func (linuxNet) Announcer(iface string) (Announcer, error) {
	a, err := link.NewAnnouncer(iface)
	if err != nil {
		return nil, err
	}
	return announcer{a}, nil
}

func (linuxNet) WatchClaims(iface string) (ClaimWatch, error) {
	w, err := link.NewClaimWatch(iface)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// announcer drops the packet count link's Announce returns.
type announcer struct{ a *link.Announcer }

func (a announcer) Announce(vips []netip.Addr) error {
	_, err := a.a.Announce(vips)
	return err
}

func (a announcer) Close() error { return a.a.Close() }

func (linuxNet) Primary(iface string, family int) (netip.Addr, error) {
	a, err := link.NewAddrs(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	defer a.Close()
	return a.Primary(link.Family(family))
}

// Label returns link's label ("eth0:carp7", "eth0:vrrp7"); when even the
// short form does not fit in 15 bytes the VIP gets no label.
func (linuxNet) Label(iface string, p carp.Proto, id uint8) string {
	proto := "vrrp"
	if p == carp.ProtoCARP {
		proto = "carp"
	}
	l, err := link.Label(iface, proto, id)
	if err != nil {
		return ""
	}
	return l
}

// LinkUp reads the interface flags: up means administratively up and
// running (carrier), as link.Watch defines it.
func (linuxNet) LinkUp(iface string) (bool, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", iface, err)
	}
	return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0, nil
}

func (linuxNet) Watch(ctx context.Context, ifaces []string, ch chan<- link.Event) error {
	err := link.Watch(ctx, ifaces, ch)
	if err == nil && ctx.Err() == nil {
		err = errors.New("link watch ended")
	}
	return err
}

func (linuxNet) EnsureVMAC(parent, name string, mac net.HardwareAddr) (bool, error) {
	return link.EnsureVMAC(parent, name, mac)
}

func (linuxNet) SetLinkUp(name string, up bool) error { return link.SetLinkUp(name, up) }

func (linuxNet) DeleteVMAC(parent, name string) error { return link.DeleteVMAC(parent, name) }

func (linuxNet) InetConf(iface string, ids ...int) (map[int]uint32, error) {
	return link.InetConf(iface, ids...)
}

func (linuxNet) SetInetConf(iface string, vals map[int]uint32) error {
	if len(vals) == 0 {
		return nil
	}
	return link.SetInetConf(iface, vals)
}

func (linuxNet) AllRPFilter() (int, error) { return link.AllRPFilter() }

func (linuxNet) AddLinkLocal(iface string, ll netip.Addr) error { return link.AddLinkLocal(iface, ll) }

func (linuxNet) SetIPv6Conf(iface, name string, v int) error { return link.SetIPv6Conf(iface, name, v) }

func (linuxNet) Sender(iface string, family int, src netip.Addr) (PacketWriter, error) {
	return link.NewSender(iface, link.Family(family), link.Options{Src: src})
}

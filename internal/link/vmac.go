//go:build linux

package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// IPv4 devconf ids (linux/ip.h, enum IPV4_DEVCONF_*): the per-interface
// settings of /proc/sys/net/ipv4/conf/IFACE, which rtnetlink reads and
// writes as IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF (kernel
// net/ipv4/devinet.c inet_fill_link_af, inet_set_link_af).
const (
	ConfRPFilter           = 8
	ConfARPFilter          = 13
	ConfARPAnnounce        = 18
	ConfARPIgnore          = 19
	ConfPromoteSecondaries = 20
	ConfAcceptLocal        = 23
)

// iflaInetConf is IFLA_INET_CONF inside the AF_INET part of IFLA_AF_SPEC.
const iflaInetConf = 1

// ConfName is the sysctl name of a devconf id, for logs and errors.
func ConfName(id int) string {
	switch id {
	case ConfRPFilter:
		return "rp_filter"
	case ConfARPFilter:
		return "arp_filter"
	case ConfARPIgnore:
		return "arp_ignore"
	case ConfARPAnnounce:
		return "arp_announce"
	case ConfPromoteSecondaries:
		return "promote_secondaries"
	case ConfAcceptLocal:
		return "accept_local"
	}
	return "devconf " + strconv.Itoa(id)
}

// InetConf reads the IPv4 devconf values ids of ifname over rtnetlink
// (RTM_GETLINK), which works where /proc/sys is read-only.
func InetConf(ifname string, ids ...int) (map[int]uint32, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", ifname, err)
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(l.Attrs().Index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, fmt.Errorf("reading the IPv4 settings of %s: %w", ifname, err)
	}
	for _, m := range msgs {
		conf, err := inetConfOf(m)
		if err != nil {
			return nil, fmt.Errorf("reading the IPv4 settings of %s: %w", ifname, err)
		}
		if conf == nil {
			continue
		}
		out := map[int]uint32{}
		for _, id := range ids {
			if id < 1 || id*4 > len(conf) {
				return nil, fmt.Errorf("reading the IPv4 settings of %s: the kernel has no %s", ifname, ConfName(id))
			}
			out[id] = binary.NativeEndian.Uint32(conf[(id-1)*4:])
		}
		return out, nil
	}
	return nil, fmt.Errorf("reading the IPv4 settings of %s: no IFLA_INET_CONF (IPv4 disabled on it?)", ifname)
}

// inetConfOf returns the IFLA_INET_CONF array of an RTM_NEWLINK message,
// nil when it has none.
func inetConfOf(m []byte) ([]byte, error) {
	if len(m) < unix.SizeofIfInfomsg {
		return nil, errors.New("short RTM_NEWLINK")
	}
	attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_AF_SPEC {
			continue
		}
		afs, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return nil, err
		}
		for _, af := range afs {
			if af.Attr.Type&^unix.NLA_F_NESTED != unix.AF_INET {
				continue
			}
			in, err := nl.ParseRouteAttr(af.Value)
			if err != nil {
				return nil, err
			}
			for _, c := range in {
				if c.Attr.Type&^unix.NLA_F_NESTED == iflaInetConf {
					return c.Value, nil
				}
			}
		}
	}
	return nil, nil
}

// SetInetConf sets IPv4 devconf values of ifname over rtnetlink
// (RTM_SETLINK), which needs CAP_NET_ADMIN only: no write to /proc/sys,
// which systemd's ProtectKernelTunables= makes read-only.
func SetInetConf(ifname string, vals map[int]uint32) error {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", ifname, err)
	}
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(l.Attrs().Index)
	req.AddData(msg)
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	conf := spec.AddRtAttr(unix.AF_INET, nil).AddRtAttr(iflaInetConf, nil)
	var names []string
	for id, v := range vals {
		conf.AddRtAttr(id, nl.Uint32Attr(v))
		names = append(names, fmt.Sprintf("%s=%d", ConfName(id), v))
	}
	req.AddData(spec)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("setting %s on %s: %w", strings.Join(names, " "), ifname, err)
	}
	return nil
}

// AllRPFilter reads net.ipv4.conf.all.rp_filter, which the kernel combines
// with each interface's by taking the larger (IN_DEV_RPFILTER). rtnetlink
// has no link for "all"; reading /proc/sys works under
// ProtectKernelTunables=.
func AllRPFilter() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// ErrNotOurs is returned by EnsureVMAC for an interface of the name that
// carpd did not create.
var ErrNotOurs = errors.New("exists and is not a macvlan of the interface: not carpd's")

// EnsureVMAC makes name a macvlan child of parent, mode vepa, with address
// mac, administratively down, and no IPv6 address
// generation, so that it sends nothing of its own (no link-local address,
// DAD or MLD from the virtual MAC) that would teach the switch a port.
//
// Not mode private, keepalived's: a macvlan in private (or passthru) mode
// hands a multicast or broadcast frame whose source MAC is one of its
// children's to that child alone, and the parent never sees it (Linux
// drivers/net/macvlan.c macvlan_handle_frame, "forward to original
// port"). The peer's adverts and gratuitous ARP carry the same virtual
// MAC, so while our child is up the parent's socket would not hear the
// other master (two masters would stay so after a partition) and the
// claim watch would not see its gratuitous ARP. In vepa mode the parent
// gets them; for one child per parent vepa and private forward alike,
// everything to the wire.
// A child of the name left by an earlier run (SIGKILL) is reused when it
// is a macvlan of parent, after being set down with the right mode and
// address; reused reports that. Anything else of the name is refused with
// ErrNotOurs.
func EnsureVMAC(parent, name string, mac net.HardwareAddr) (reused bool, err error) {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", parent, err)
	}
	if l, err := netlink.LinkByName(name); err == nil {
		mv, ok := l.(*netlink.Macvlan)
		if !ok || l.Attrs().ParentIndex != p.Attrs().Index {
			return false, fmt.Errorf("%s: %w", name, ErrNotOurs)
		}
		if err := netlink.LinkSetDown(l); err != nil {
			return false, fmt.Errorf("setting %s down: %w", name, err)
		}
		if mv.Mode != netlink.MACVLAN_MODE_VEPA || !bytes.Equal(l.Attrs().HardwareAddr, mac) {
			// The mode of a macvlan cannot be changed in place on every
			// kernel; a fresh one is simplest.
			if err := netlink.LinkDel(l); err != nil {
				return false, fmt.Errorf("deleting stale %s: %w", name, err)
			}
		} else {
			return true, vmacIPv6Off(l)
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		return false, fmt.Errorf("looking up %s: %w", name, err)
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: p.Attrs().Index, HardwareAddr: mac},
		Mode:      netlink.MACVLAN_MODE_VEPA,
	}
	if err := netlink.LinkAdd(mv); err != nil {
		return false, fmt.Errorf("creating macvlan %s on %s: %w", name, parent, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", name, err)
	}
	return false, vmacIPv6Off(l)
}

// vmacIPv6Off stops IPv6 address generation on the child (kernel
// IN6_ADDR_GEN_MODE_NONE): no link-local address, hence no DAD, MLD or
// router solicitation sent from the virtual MAC.
func vmacIPv6Off(l netlink.Link) error {
	err := netlink.LinkSetIP6AddrGenMode(l, 1)
	if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil // no IPv6 on this host
	}
	if err != nil {
		return fmt.Errorf("turning IPv6 address generation off on %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// SetLinkUp sets name administratively up or down.
func SetLinkUp(name string, up bool) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	if up {
		err = netlink.LinkSetUp(l)
	} else {
		err = netlink.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("setting %s up=%v: %w", name, up, err)
	}
	return nil
}

// DeleteVMAC deletes the macvlan child name of parent; a missing one is
// not an error, and anything else of the name is left alone.
func DeleteVMAC(parent, name string) error {
	l, err := netlink.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	p, err := netlink.LinkByName(parent)
	if _, ok := l.(*netlink.Macvlan); !ok || err != nil || l.Attrs().ParentIndex != p.Attrs().Index {
		return fmt.Errorf("%s: %w", name, ErrNotOurs)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}

// AddLinkLocal puts ll, the parent's link-local address that the
// adverts carry as source, on the vmac child name, which must be up:
// RFC 5798 §5.1.2.1 sends IPv6 adverts from the link-local address of
// the interface they leave from, and the kernel takes a link-local source
// only from an address of the sending interface (net/ipv6/datagram.c
// ip6_datagram_send_ctl, strict for link-local scope). keepalived does the
// same for use_vmac with IPv6 (keepalived/vrrp/vrrp_vmac.c
// netlink_link_add_vmac). IFA_F_NODAD: the address is the node's own,
// already checked on the parent, and a tentative address cannot be a
// source, so DAD would delay the first adverts of every promotion by a
// second or more. Setting the child down removes it again
// (keep_addr_on_down is 0 on a new interface), so a backup's child holds
// no address. Adding it twice is not an error.
func AddLinkLocal(name string, ll netip.Addr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ll.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrReplace(l, a); err != nil {
		return fmt.Errorf("adding %s to %s: %w", ll, name, err)
	}
	return nil
}

// SetIPv6Conf writes net.ipv6.conf.IFACE.NAME. Unlike the IPv4 settings,
// the IPv6 ones cannot be set over rtnetlink (the kernel's
// inet6_set_link_af takes only the token and the address generation
// mode), so this needs a writable /proc/sys, which systemd's
// ProtectKernelTunables= takes away.
func SetIPv6Conf(ifname, name string, v int) error {
	path := "/proc/sys/net/ipv6/conf/" + ifname + "/" + name
	if err := os.WriteFile(path, []byte(strconv.Itoa(v)), 0o644); err != nil {
		return fmt.Errorf("setting net.ipv6.conf.%s.%s=%d: %w", ifname, name, v, err)
	}
	return nil
}

// NewSender opens a protocol 112 socket on ifname that only sends: what
// it writes leaves with ifname's MAC as source (for a vmac child, the
// virtual router MAC, as RFC 5798 §7.3 asks of adverts so that switches
// learn the master's port from them). opt.Src must be given (the child
// has no address of its own; for IPv6 AddLinkLocal gives it opt.Src once
// it is up); the packets the kernel queues on the socket are dropped by a
// filter, since the router reads its adverts on the parent's socket.
func NewSender(ifname string, family Family, opt Options) (*Conn, error) {
	if !family.valid() {
		return nil, fmt.Errorf("sending on %s: invalid family %v", ifname, family)
	}
	if !opt.Src.IsValid() {
		return nil, fmt.Errorf("sending on %s: no source address", ifname)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("sending on %s: %w", ifname, err)
	}
	opt.Unicast = true // join nothing
	if opt, err = resolve(ifi, family, opt); err != nil {
		return nil, fmt.Errorf("sending on %s: %w", ifname, err)
	}
	pc, err := open112(ifname, family)
	if err != nil {
		return nil, err
	}
	// BPF "ret #0": every packet is dropped before it is queued.
	drop, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	var c *Conn
	sc, err := newSysConn(pc.(*net.IPConn), family == IPv6)
	if err == nil && family == IPv4 {
		p := ipv4.NewPacketConn(pc)
		if err = errors.Join(setup4(p, ifi, opt), p.SetBPF(drop)); err == nil {
			c, err = newConn4(ifi, opt, sys4{sc})
		}
	} else if err == nil {
		p := ipv6.NewPacketConn(pc)
		if err = errors.Join(setup6(p, ifi, opt), p.SetBPF(drop)); err == nil {
			c, err = newConn6(ifi, opt, sys6{sc})
		}
	}
	if err != nil {
		if sc != nil {
			sc.Close() // the socket and the writer's descriptor
		} else {
			pc.Close()
		}
		return nil, fmt.Errorf("setting up %s sender on %s: %w", family, ifname, err)
	}
	return c, nil
}

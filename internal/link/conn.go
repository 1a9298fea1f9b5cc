//go:build linux

package link

import (
	"context"
	"errors"
	"fmt"
	"github.com/carpd/carpd/carp"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ProtoNumber is the IP protocol number shared by CARP and VRRP. It is used
// as a number because Go's protocol table has no name for CARP and resolving
// "vrrp" needs /etc/protocols (docs/design.md §5.1).
const ProtoNumber = 112

// TTL is the IPv4 TTL and IPv6 hop limit of every advertisement sent.
// RFC 5798 §5.1.1.3 / RFC 3768 §5.2.3: it must be 255 and receivers drop
// anything else, as ucarp (carp.c) and keepalived (vrrp.c) do.
const TTL = 255

// DefaultTOS is IPTOS_PREC_INTERNETCONTROL, the IPv4 TOS (and IPv6 traffic
// class) keepalived sends advertisements with.
const DefaultTOS = 0xc0

// DefaultGroup returns the multicast group of CARP and VRRP for f:
// 224.0.0.18 or ff02::12 (RFC 5798 §5.1.1.2, §5.1.2.2).
func DefaultGroup(f Family) netip.Addr { return carp.Group(f == IPv6) }

// Options tunes Listen. The zero value is the usual multicast setup.
type Options struct {
	// Src is the source address of every packet sent. The default is the
	// interface's primary address: the first non-secondary IPv4 address
	// that is not a VIP, or the IPv6 link-local address (RFC 5798 §5.1.2.1).
	Src netip.Addr
	// Group is the multicast group joined and the usual destination; the
	// default is DefaultGroup(family).
	Group netip.Addr
	// Unicast is the peers mode (keepalived unicast_peer, OpenBSD carppeer):
	// the group is not joined and the caller sends to each peer.
	Unicast bool
	// TOS is the IPv4 TOS byte or IPv6 traffic class; 0 means DefaultTOS.
	TOS int
}

// Conn is one raw protocol 112 socket per interface and address family,
// shared by all virtual routers on it; the caller demultiplexes by vhid or
// vrid (byte 1 of the payload). One socket per router would copy every
// advertisement to every socket.
//
// The socket is bound to the wildcard address, never to the node's address
// (a bound raw socket drops packets sent to the group), bound to the device
// with SO_BINDTODEVICE, and has IP_MULTICAST_ALL off so groups joined by
// other sockets on the host do not leak in (docs/design.md §5.1).
//
// IPv6: the VRRPv3 checksum covers a pseudo-header with the source and
// destination addresses. The kernel is not asked to compute it
// (IPV6_CHECKSUM stays off) because it would also silently drop bad
// checksums on receive, where the daemon wants to count them; the codec
// (carp.VRRP.AppendBinary) computes it instead, so the caller must build the
// payload with Src set to this Conn's Src() and Dst to the destination
// passed to WriteTo.
type Conn struct {
	family                     Family
	ifi                        *net.Interface
	src                        netip.Addr
	group                      netip.Addr
	unicast                    bool
	p4                         conn4 // IPv4 only
	p6                         conn6 // IPv6 only
	droppedIface, droppedGroup atomic.Uint64

	// WriteTo's arguments, built once so that a packet sent allocates
	// nothing (docs/daemon.md, "Cost of an advertisement"); wmu guards
	// to and its address.
	wmu  sync.Mutex
	cm4  ipv4.ControlMessage
	cm6  ipv6.ControlMessage
	to   net.IPAddr
	toIP [net.IPv6len]byte
}

// conn4 is what a Conn uses of an *ipv4.PacketConn, so that tests can
// supply an in-memory one with the control messages the kernel would give.
type conn4 interface {
	ReadFrom(b []byte) (int, *ipv4.ControlMessage, net.Addr, error)
	WriteTo(b []byte, cm *ipv4.ControlMessage, dst net.Addr) (int, error)
	Close() error
}

// conn6 is what a Conn uses of an *ipv6.PacketConn.
type conn6 interface {
	ReadFrom(b []byte) (int, *ipv6.ControlMessage, net.Addr, error)
	WriteTo(b []byte, cm *ipv6.ControlMessage, dst net.Addr) (int, error)
	Close() error
}

// Listen opens the protocol 112 socket for family on ifname, in the calling
// thread's network namespace.
func Listen(ifname string, family Family, opt Options) (*Conn, error) {
	if !family.valid() {
		return nil, fmt.Errorf("listening on %s: invalid family %v", ifname, family)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", ifname, err)
	}
	// The addresses are checked before the socket is opened, so a bad
	// configuration is reported as such even where opening would fail.
	if opt, err = resolve(ifi, family, opt); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", ifname, err)
	}
	pc, err := open112(ifname, family)
	if err != nil {
		return nil, err
	}
	var c *Conn
	// x/net sets the options; the packets go through a sysConn.
	sc, err := newSysConn(pc.(*net.IPConn), family == IPv6)
	if err == nil && family == IPv4 {
		if err = setup4(ipv4.NewPacketConn(pc), ifi, opt); err == nil {
			c, err = newConn4(ifi, opt, sys4{sc})
		}
	} else if err == nil {
		if err = setup6(ipv6.NewPacketConn(pc), ifi, opt); err == nil {
			c, err = newConn6(ifi, opt, sys6{sc})
		}
	}
	if err != nil {
		if sc != nil {
			sc.Close() // the socket and the writer's descriptor
		} else {
			pc.Close()
		}
		return nil, fmt.Errorf("setting up %s socket on %s: %w", family, ifname, err)
	}
	return c, nil
}

// newConn4 returns an IPv4 Conn on ifi that reads and writes through p, an
// *ipv4.PacketConn set up by Listen or a test's fake.
func newConn4(ifi *net.Interface, opt Options, p conn4) (*Conn, error) {
	c, err := newConn(ifi, IPv4, opt)
	if err != nil {
		return nil, err
	}
	c.p4 = p
	return c, nil
}

// newConn6 returns an IPv6 Conn on ifi that reads and writes through p, an
// *ipv6.PacketConn set up by Listen or a test's fake.
func newConn6(ifi *net.Interface, opt Options, p conn6) (*Conn, error) {
	c, err := newConn(ifi, IPv6, opt)
	if err != nil {
		return nil, err
	}
	c.p6 = p
	return c, nil
}

func newConn(ifi *net.Interface, family Family, opt Options) (*Conn, error) {
	opt, err := resolve(ifi, family, opt)
	if err != nil {
		return nil, err
	}
	c := &Conn{family: family, ifi: ifi, src: opt.Src, group: opt.Group, unicast: opt.Unicast}
	c.cm4 = ipv4.ControlMessage{Src: c.src.AsSlice(), IfIndex: ifi.Index}
	// A numeric zone: Go resolves a zone name in the calling thread's
	// namespace, which need not be the socket's.
	c.cm6 = ipv6.ControlMessage{HopLimit: TTL, Src: c.src.AsSlice(), IfIndex: ifi.Index}
	if family == IPv6 {
		c.to.Zone = strconv.Itoa(ifi.Index)
	}
	return c, nil
}

// resolve fills in and checks the source and group addresses and the TOS.
// Its result resolves to itself, without looking anything up.
func resolve(ifi *net.Interface, family Family, opt Options) (Options, error) {
	opt.Src, opt.Group = opt.Src.Unmap(), opt.Group.Unmap()
	if !opt.Src.IsValid() {
		src, err := primaryOf(ifi.Name, family, nil)
		if err != nil {
			return Options{}, err
		}
		opt.Src = src
	}
	if !opt.Group.IsValid() {
		opt.Group = DefaultGroup(family)
	}
	if FamilyOf(opt.Src) != family {
		return Options{}, fmt.Errorf("source address %s is not %s", opt.Src, family)
	}
	if FamilyOf(opt.Group) != family || !opt.Group.IsMulticast() {
		return Options{}, fmt.Errorf("group %s is not an %s multicast address", opt.Group, family)
	}
	opt.Src = opt.Src.WithZone("")
	if opt.TOS == 0 {
		opt.TOS = DefaultTOS
	}
	return opt, nil
}

// control runs before bind: SO_BINDTODEVICE, because neither joining a group
// nor IP_MULTICAST_IF restricts what a raw socket receives (keepalived
// vrrp_if.c), and IP_MULTICAST_ALL=0, because Linux otherwise delivers any
// group joined by any socket on the host.
func control(rc syscall.RawConn, ifname string, family Family) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = unix.BindToDevice(int(fd), ifname); serr != nil {
			serr = fmt.Errorf("SO_BINDTODEVICE: %w", serr)
			return
		}
		if family == IPv4 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		}
		if serr != nil {
			serr = fmt.Errorf("multicast-all off: %w", serr)
		}
	})
	return errors.Join(err, serr)
}

// setup4 sets the IPv4 options. docs/design.md §5.1: the Linux default
// IP_MULTICAST_TTL is 1, and SetTTL covers unicast only, so both are set.
func setup4(p *ipv4.PacketConn, ifi *net.Interface, opt Options) error {
	const flags = ipv4.FlagTTL | ipv4.FlagDst | ipv4.FlagInterface | ipv4.FlagSrc
	steps := []error{
		p.SetControlMessage(flags, true),
		p.SetMulticastInterface(ifi),
		p.SetMulticastLoopback(false),
		p.SetMulticastTTL(TTL),
		p.SetTTL(TTL),
		p.SetTOS(opt.TOS),
	}
	if !opt.Unicast {
		steps = append(steps, p.JoinGroup(ifi, &net.IPAddr{IP: opt.Group.AsSlice()}))
	}
	return errors.Join(steps...)
}

// setup6 sets the IPv6 options, hop limit 255 for multicast and unicast.
func setup6(p *ipv6.PacketConn, ifi *net.Interface, opt Options) error {
	const flags = ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface | ipv6.FlagSrc
	steps := []error{
		p.SetControlMessage(flags, true),
		p.SetMulticastInterface(ifi),
		p.SetMulticastLoopback(false),
		p.SetMulticastHopLimit(TTL),
		p.SetHopLimit(TTL),
		p.SetTrafficClass(opt.TOS),
	}
	if !opt.Unicast {
		steps = append(steps, p.JoinGroup(ifi, &net.IPAddr{IP: opt.Group.AsSlice()}))
	}
	return errors.Join(steps...)
}

// Src returns the source address of the packets this Conn sends.
func (c *Conn) Src() netip.Addr { return c.src }

// Group returns the multicast group.
func (c *Conn) Group() netip.Addr { return c.group }

// Family returns the address family of the socket.
func (c *Conn) Family() Family { return c.family }

// Dropped counts packets ReadPacket discarded: from another interface
// (SO_BINDTODEVICE should make that impossible), or to a multicast group
// this Conn did not join. The latter happens with IPv6: a raw socket bound
// to :: gets every multicast packet of its protocol that the interface
// accepts, whatever IPV6_MULTICAST_ALL says (net/ipv6/raw.c raw_v6_match
// skips the membership check for a wildcard-bound socket; IPv4's
// raw_v4_input does check it), so a unicast-mode Conn sees the adverts of
// a multicast Conn or keepalived on the same interface.
func (c *Conn) Dropped() uint64 { return c.droppedIface.Load() + c.droppedGroup.Load() }

// DroppedBy splits Dropped by reason: another interface, another group.
func (c *Conn) DroppedBy() (iface, group uint64) {
	return c.droppedIface.Load(), c.droppedGroup.Load()
}

// ReadPacket blocks until a packet arrives on the interface. Payload aliases
// buf; a payload longer than buf is truncated. Close unblocks it with an
// error matching net.ErrClosed.
func (c *Conn) ReadPacket(buf []byte) (Packet, error) {
	for {
		pkt, err := c.read(buf)
		if err != nil {
			return Packet{}, err
		}
		if pkt.IfIndex != c.ifi.Index {
			c.droppedIface.Add(1)
			continue
		}
		if pkt.Dst.IsMulticast() && (c.unicast || pkt.Dst != c.group) {
			c.droppedGroup.Add(1)
			continue
		}
		return pkt, nil
	}
}

func (c *Conn) read(buf []byte) (Packet, error) {
	if c.p4 != nil {
		n, cm, src, err := c.p4.ReadFrom(buf)
		if err != nil {
			return Packet{}, err
		}
		if cm == nil {
			return Packet{}, errors.New("reading IPv4 packet: no control message")
		}
		return Packet{Src: addrOf(src), Dst: ipAddr(cm.Dst), TTL: uint8(cm.TTL), IfIndex: cm.IfIndex, Payload: buf[:n]}, nil
	}
	n, cm, src, err := c.p6.ReadFrom(buf)
	if err != nil {
		return Packet{}, err
	}
	if cm == nil {
		return Packet{}, errors.New("reading IPv6 packet: no control message")
	}
	return Packet{Src: addrOf(src), Dst: ipAddr(cm.Dst), TTL: uint8(cm.HopLimit), IfIndex: cm.IfIndex, Payload: buf[:n]}, nil
}

// WriteTo sends payload to dst (the group, or a peer in unicast mode) from
// Src with TTL (hop limit) 255.
func (c *Conn) WriteTo(payload []byte, dst netip.Addr) error {
	dst = dst.Unmap()
	if FamilyOf(dst) != c.family {
		return fmt.Errorf("sending to %s: not an %s address", dst, c.family)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	to := &c.to
	if c.p4 != nil {
		a := dst.As4()
		to.IP = c.toIP[:copy(c.toIP[:], a[:])]
	} else {
		a := dst.As16()
		to.IP = c.toIP[:copy(c.toIP[:], a[:])]
	}
	var err error
	if c.p4 != nil {
		_, err = c.p4.WriteTo(payload, &c.cm4, to)
	} else {
		_, err = c.p6.WriteTo(payload, &c.cm6, to)
	}
	if err != nil {
		return fmt.Errorf("sending to %s on %s: %w", dst, c.ifi.Name, err)
	}
	return nil
}

// Close closes the socket, leaving the group, and unblocks ReadPacket.
func (c *Conn) Close() error {
	if c.p4 != nil {
		return c.p4.Close()
	}
	return c.p6.Close()
}

// addrOf returns the zone-less address of a *net.IPAddr.
func addrOf(a net.Addr) netip.Addr {
	if ia, ok := a.(*net.IPAddr); ok {
		return ipAddr(ia.IP)
	}
	return netip.Addr{}
}

// ipAddr converts ip, unmapping IPv4; nil gives the invalid Addr.
func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// open112 opens the IP protocol 112 socket of family on the wildcard
// address, bound to ifname (control).
func open112(ifname string, family Family) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return control(rc, ifname, family)
	}}
	network, wildcard := "ip4:112", "0.0.0.0"
	if family == IPv6 {
		network, wildcard = "ip6:112", "::"
	}
	pc, err := lc.ListenPacket(context.Background(), network, wildcard)
	if err != nil {
		return nil, fmt.Errorf("opening %s socket on %s: %w", family, ifname, err)
	}
	return pc, nil
}

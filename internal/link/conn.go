//go:build linux

package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ProtoNumber is the IP protocol number shared by CARP and VRRP. It is used
// as a number because Go's protocol table has no name for CARP and resolving
// "vrrp" needs /etc/protocols (PITFALLS §B.1).
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
func DefaultGroup(f Family) netip.Addr {
	if f == IPv6 {
		return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
	}
	return netip.AddrFrom4([4]byte{224, 0, 0, 18})
}

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

// Conn is one raw protocol 112 socket per interface and address family,
// shared by all virtual routers on it; the caller demultiplexes by vhid or
// vrid (byte 1 of the payload). One socket per router would copy every
// advertisement to every socket.
//
// The socket is bound to the wildcard address, never to the node's address
// (a bound raw socket drops packets sent to the group), bound to the device
// with SO_BINDTODEVICE, and has IP_MULTICAST_ALL off so groups joined by
// other sockets on the host do not leak in (PITFALLS §B.1).
//
// IPv6: the VRRPv3 checksum covers a pseudo-header with the source and
// destination addresses. The kernel is not asked to compute it
// (IPV6_CHECKSUM stays off) because it would also silently drop bad
// checksums on receive, where the daemon wants to count them; the codec
// (carp.VRRP.AppendBinary) computes it instead, so the caller must build the
// payload with Src set to this Conn's Src() and Dst to the destination
// passed to WriteTo.
type Conn struct {
	family  Family
	ifi     *net.Interface
	src     netip.Addr
	group   netip.Addr
	unicast bool
	c       net.PacketConn
	p4      *ipv4.PacketConn
	p6      *ipv6.PacketConn
	dropped atomic.Uint64
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
	c := &Conn{family: family, ifi: ifi, src: opt.Src.Unmap(), group: opt.Group.Unmap(), unicast: opt.Unicast}
	if err := c.defaults(); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", ifname, err)
	}
	tos := opt.TOS
	if tos == 0 {
		tos = DefaultTOS
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return control(rc, ifname, family)
	}}
	network, wildcard := "ip4:112", "0.0.0.0"
	if family == IPv6 {
		network, wildcard = "ip6:112", "::"
	}
	c.c, err = lc.ListenPacket(context.Background(), network, wildcard)
	if err != nil {
		return nil, fmt.Errorf("opening %s socket on %s: %w", family, ifname, err)
	}
	if family == IPv4 {
		err = c.setup4(opt.Unicast, tos)
	} else {
		err = c.setup6(opt.Unicast, tos)
	}
	if err != nil {
		c.c.Close()
		return nil, fmt.Errorf("setting up %s socket on %s: %w", family, ifname, err)
	}
	return c, nil
}

// defaults fills in and checks the source and group addresses.
func (c *Conn) defaults() error {
	if !c.src.IsValid() {
		src, err := primaryOf(c.ifi.Name, c.family, nil)
		if err != nil {
			return err
		}
		c.src = src
	}
	if !c.group.IsValid() {
		c.group = DefaultGroup(c.family)
	}
	if FamilyOf(c.src) != c.family {
		return fmt.Errorf("source address %s is not %s", c.src, c.family)
	}
	if FamilyOf(c.group) != c.family || !c.group.IsMulticast() {
		return fmt.Errorf("group %s is not an %s multicast address", c.group, c.family)
	}
	c.src = c.src.WithZone("")
	return nil
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

// setup4 sets the IPv4 options. PITFALLS §B.1: the Linux default
// IP_MULTICAST_TTL is 1, and SetTTL covers unicast only, so both are set.
func (c *Conn) setup4(unicast bool, tos int) error {
	p := ipv4.NewPacketConn(c.c)
	c.p4 = p
	const flags = ipv4.FlagTTL | ipv4.FlagDst | ipv4.FlagInterface | ipv4.FlagSrc
	steps := []error{
		p.SetControlMessage(flags, true),
		p.SetMulticastInterface(c.ifi),
		p.SetMulticastLoopback(false),
		p.SetMulticastTTL(TTL),
		p.SetTTL(TTL),
		p.SetTOS(tos),
	}
	if !unicast {
		steps = append(steps, p.JoinGroup(c.ifi, &net.IPAddr{IP: c.group.AsSlice()}))
	}
	return errors.Join(steps...)
}

// setup6 sets the IPv6 options, hop limit 255 for multicast and unicast.
func (c *Conn) setup6(unicast bool, tclass int) error {
	p := ipv6.NewPacketConn(c.c)
	c.p6 = p
	const flags = ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface | ipv6.FlagSrc
	steps := []error{
		p.SetControlMessage(flags, true),
		p.SetMulticastInterface(c.ifi),
		p.SetMulticastLoopback(false),
		p.SetMulticastHopLimit(TTL),
		p.SetHopLimit(TTL),
		p.SetTrafficClass(tclass),
	}
	if !unicast {
		steps = append(steps, p.JoinGroup(c.ifi, &net.IPAddr{IP: c.group.AsSlice()}))
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
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// ReadPacket blocks until a packet arrives on the interface. Payload aliases
// buf; a payload longer than buf is truncated. Close unblocks it with an
// error matching net.ErrClosed.
func (c *Conn) ReadPacket(buf []byte) (Packet, error) {
	for {
		pkt, err := c.read(buf)
		if err != nil {
			return Packet{}, err
		}
		if pkt.IfIndex != c.ifi.Index || pkt.Dst.IsMulticast() && (c.unicast || pkt.Dst != c.group) {
			c.dropped.Add(1)
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
	to := &net.IPAddr{IP: dst.AsSlice()}
	var err error
	if c.p4 != nil {
		cm := &ipv4.ControlMessage{Src: c.src.AsSlice(), IfIndex: c.ifi.Index}
		_, err = c.p4.WriteTo(payload, cm, to)
	} else {
		// A numeric zone: Go resolves a zone name in the calling
		// thread's namespace, which need not be the socket's.
		to.Zone = strconv.Itoa(c.ifi.Index)
		cm := &ipv6.ControlMessage{HopLimit: TTL, Src: c.src.AsSlice(), IfIndex: c.ifi.Index}
		_, err = c.p6.WriteTo(payload, cm, to)
	}
	if err != nil {
		return fmt.Errorf("sending to %s on %s: %w", dst, c.ifi.Name, err)
	}
	return nil
}

// Close closes the socket, leaving the group, and unblocks ReadPacket.
func (c *Conn) Close() error { return c.c.Close() }

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

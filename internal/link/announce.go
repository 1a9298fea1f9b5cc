//go:build linux

package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Announcer sends gratuitous ARP and unsolicited neighbour advertisements
// for VIPs on one interface, one round per call; the burst, the 1100 ms
// spacing (MetalLB#172) and any periodic refresh are the caller's policy.
//
// The kernel answers ARP and NS for an address once it is on the interface,
// and sends nothing itself when an IPv4 address is added (docs/design.md §5.2),
// so these announcements are what moves the neighbours' caches.
type Announcer struct {
	ifi  *net.Interface
	arp  frameWriter
	icmp ndpWriter
	h    addrLister // finds the link-local source at send time
}

// frameWriter is what an Announcer uses of a *packet.Conn, so that tests
// can record the frames instead.
type frameWriter interface {
	WriteTo(b []byte, addr net.Addr) (int, error)
	Close() error
}

// ndpWriter is what an Announcer uses of an *ipv6.PacketConn.
type ndpWriter interface {
	WriteTo(b []byte, cm *ipv6.ControlMessage, dst net.Addr) (int, error)
	Close() error
}

// addrLister is what an Announcer uses of a *netlink.Handle.
type addrLister interface {
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	Close()
}

// NewAnnouncer opens the sockets on ifname in the calling thread's
// namespace. It needs no address on the interface: arp.Dial and arp.New
// refuse an interface without IPv4 (client.go firstIPv4Addr), and
// ndp.Listen one without a bindable link-local, so packets are built with
// arp.NewPacket and ndp.MarshalMessage and written to sockets opened here.
// Neither socket receives anything: filters drop every frame and message,
// so no queue of other hosts' traffic builds up unread.
func NewAnnouncer(ifname string) (*Announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("opening announcer on %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("opening announcer on %s: no Ethernet address", ifname)
	}
	arpConn, icmp, h, err := open(ifi)
	if err != nil {
		return nil, fmt.Errorf("opening announcer on %s: %w", ifname, err)
	}
	return newAnnouncer(ifi, arpConn, icmp, h), nil
}

// newAnnouncer returns an Announcer on ifi, which must have an Ethernet
// address, that writes frames to arp and neighbour advertisements to icmp
// and finds its IPv6 source through h: the sockets and handle NewAnnouncer
// opens, or a test's fakes. The Announcer owns and closes them.
func newAnnouncer(ifi *net.Interface, arp frameWriter, icmp ndpWriter, h addrLister) *Announcer {
	return &Announcer{ifi: ifi, arp: arp, icmp: icmp, h: h}
}

// open opens an Announcer's sockets and netlink handle on ifi; on failure
// it closes those it opened.
func open(ifi *net.Interface) (arpConn *packet.Conn, icmp *ipv6.PacketConn, h *netlink.Handle, err error) {
	defer func() {
		if err == nil {
			return
		}
		if arpConn != nil {
			arpConn.Close()
		}
		if icmp != nil {
			icmp.Close()
		}
		if h != nil {
			h.Close()
		}
	}()
	dropAll, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("assembling BPF filter: %w", err)
	}
	arpConn, err = packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening ARP socket: %w", err)
	}
	if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return arpConn, nil, nil, fmt.Errorf("opening netlink handle: %w", err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), ifi.Name) })
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:58", "::")
	if err != nil {
		return arpConn, nil, h, fmt.Errorf("opening ICMPv6 socket: %w", err)
	}
	icmp = ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	// RFC 4861 §7.1.2: receivers drop NDP messages with a hop limit other
	// than 255. The kernel computes the ICMPv6 checksum on raw ICMPv6
	// sockets by itself.
	err = errors.Join(
		icmp.SetICMPFilter(&f),
		icmp.SetMulticastInterface(ifi),
		icmp.SetMulticastHopLimit(ndp.HopLimit),
		icmp.SetMulticastLoopback(false),
	)
	return arpConn, icmp, h, err
}

// Announce sends one round for vips and returns how many packets went out.
// For an IPv4 VIP that is two broadcast frames, the request and the reply
// form of gratuitous ARP, because some stacks honour only one
// (MetalLB#172, kube-vip gratuitousARP); for an IPv6 VIP one unsolicited NA
// to ff02::1, from the interface's link-local address (an error if it has
// none). Every VIP is tried; the errors are joined.
func (a *Announcer) Announce(vips []netip.Addr) (int, error) {
	n := 0
	var errs []error
	for _, vip := range vips {
		vip = vip.Unmap()
		var k int
		var err error
		if vip.Is4() {
			k, err = a.garp(vip)
		} else {
			k, err = a.na(vip)
		}
		n += k
		if err != nil {
			errs = append(errs, fmt.Errorf("announcing %s on %s: %w", vip, a.ifi.Name, err))
		}
	}
	return n, errors.Join(errs...)
}

// garp sends both gratuitous ARP forms: sender and target IP are the VIP,
// the sender MAC is the interface's. RFC 5227 §2.3 zeroes the target MAC of
// the request form (as the kernel's own announcements do); RFC 5944 §4.6
// sets it to the sender MAC in the reply form.
func (a *Announcer) garp(vip netip.Addr) (int, error) {
	mac := a.ifi.HardwareAddr
	forms := []struct {
		op  arp.Operation
		tha net.HardwareAddr
	}{
		{arp.OperationRequest, make(net.HardwareAddr, 6)},
		{arp.OperationReply, mac},
	}
	n := 0
	for _, f := range forms {
		if err := sendARP(a.arp, f.op, mac, vip, f.tha, vip); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// sendARP broadcasts one ARP packet from mac on c.
func sendARP(c frameWriter, op arp.Operation, mac net.HardwareAddr, sip netip.Addr, tha net.HardwareAddr,
	tip netip.Addr) error {
	p, err := arp.NewPacket(op, mac, sip, tha, tip)
	if err != nil {
		return err
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	fb, err := (&ethernet.Frame{
		Destination: ethernet.Broadcast,
		Source:      mac,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     pb,
	}).MarshalBinary()
	if err != nil {
		return err
	}
	_, err = c.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast})
	if errors.Is(err, unix.ENETDOWN) {
		// A packet socket whose interface was down when it was bound,
		// or went down since, holds ENETDOWN as its pending error
		// (net/packet/af_packet.c packet_do_bind, packet_notifier),
		// which the next send returns once: a vmac child is down
		// until its router is promoted. The retry sends the frame, or
		// fails again if the interface is still down.
		_, err = c.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast})
	}
	return err
}

// na sends an unsolicited neighbour advertisement (RFC 4861 §7.2.6):
// Override set, Solicited clear, and Router clear because a service VIP is
// not a router (RFC 5798 §6.4.2 sets it only for router VIPs).
func (a *Announcer) na(vip netip.Addr) (int, error) {
	list, err := a.h.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: a.ifi.Index}}, netlink.FAMILY_V6)
	if err != nil {
		return 0, fmt.Errorf("listing IPv6 addresses: %w", err)
	}
	src, err := pickPrimary(a.ifi.Name, IPv6, list, nil)
	if err != nil {
		return 0, err
	}
	b, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: a.ifi.HardwareAddr}},
	})
	if err != nil {
		return 0, err
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: src.AsSlice(), IfIndex: a.ifi.Index}
	// A numeric zone: a zone name would be resolved in the calling
	// thread's namespace.
	dst := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: strconv.Itoa(a.ifi.Index)}
	if _, err := a.icmp.WriteTo(b, cm, dst); err != nil {
		return 0, err
	}
	return 1, nil
}

// Close closes the sockets and the netlink handle.
func (a *Announcer) Close() error {
	var errs []error
	if a.arp != nil {
		errs = append(errs, a.arp.Close())
	}
	if a.icmp != nil {
		errs = append(errs, a.icmp.Close())
	}
	if a.h != nil {
		a.h.Close()
	}
	return errors.Join(errs...)
}

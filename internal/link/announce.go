//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
)

// Announcer sends gratuitous ARP and unsolicited neighbour advertisements
// for VIPs on one interface, one round per call; the burst, the 1100 ms
// spacing (MetalLB#172) and any periodic refresh are the caller's policy.
//
// The kernel answers ARP and NS for an address once it is on the interface,
// and sends nothing itself when an IPv4 address is added (PITFALLS §B.3),
// so these announcements are what moves the neighbours' caches.
type Announcer struct {
	ifi *net.Interface
	arp *packet.Conn
	ns  netns.NsHandle // where the NDP socket is opened, late or again

	mu  sync.Mutex
	ndp *ndp.Conn // opened when first usable: it needs a link-local address
}

// NewAnnouncer opens an ARP packet socket on ifname in the calling thread's
// namespace. It works without an IPv4 address on the interface: arp.Dial and
// arp.New both refuse such an interface (client.go firstIPv4Addr), so the
// packets are built with arp.NewPacket and written to the packet socket
// directly. The socket receives nothing: a BPF filter drops every frame, so
// no queue of other hosts' ARP builds up unread.
func NewAnnouncer(ifname string) (*Announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("opening announcer on %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("opening announcer on %s: no Ethernet address", ifname)
	}
	dropAll, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("assembling BPF filter: %w", err)
	}
	pc, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, fmt.Errorf("opening ARP socket on %s: %w", ifname, err)
	}
	ns, err := netns.Get()
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("opening announcer on %s: %w", ifname, err)
	}
	return &Announcer{ifi: ifi, arp: pc, ns: ns}, nil
}

// Announce sends one round for vips and returns how many packets went out.
// For an IPv4 VIP that is two broadcast frames, the request and the reply
// form of gratuitous ARP, because some stacks honour only one
// (MetalLB#172, kube-vip gratuitousARP); for an IPv6 VIP one unsolicited NA
// to ff02::1. Every VIP is tried; the errors are joined.
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
		p, err := arp.NewPacket(f.op, mac, vip, f.tha, vip)
		if err != nil {
			return n, err
		}
		pb, err := p.MarshalBinary()
		if err != nil {
			return n, err
		}
		fb, err := (&ethernet.Frame{
			Destination: ethernet.Broadcast,
			Source:      mac,
			EtherType:   ethernet.EtherTypeARP,
			Payload:     pb,
		}).MarshalBinary()
		if err != nil {
			return n, err
		}
		if _, err := a.arp.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// na sends an unsolicited neighbour advertisement (RFC 4861 §7.2.6):
// Override set, Solicited clear, and Router clear because a service VIP is
// not a router (RFC 5798 §6.4.2 sets it only for router VIPs).
func (a *Announcer) na(vip netip.Addr) (int, error) {
	c, err := a.ndpConn()
	if err != nil {
		return 0, err
	}
	m := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: a.ifi.HardwareAddr}},
	}
	if err := c.WriteTo(m, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
		return 0, err
	}
	return 1, nil
}

// ndpConn opens the NDP socket on first use, and again after a failure: the
// interface may have no link-local address yet, or one still in DAD, which
// cannot be bound. ndp.Listen reads the interface's addresses and opens its
// socket in the calling thread's namespace, so it runs inside a's.
func (a *Announcer) ndpConn() (*ndp.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ndp != nil {
		return a.ndp, nil
	}
	var c *ndp.Conn
	err := within(a.ns, func() error {
		var err error
		c, _, err = ndp.Listen(a.ifi, ndp.LinkLocal)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening NDP socket (it needs a usable IPv6 link-local address): %w", err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true) // send only: nothing to queue
	if err := c.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("setting ICMPv6 filter: %w", err)
	}
	a.ndp = c
	return c, nil
}

// Close closes the sockets.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	errs := []error{a.arp.Close(), a.ns.Close()}
	if a.ndp != nil {
		errs = append(errs, a.ndp.Close())
		a.ndp = nil
	}
	return errors.Join(errs...)
}

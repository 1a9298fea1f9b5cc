//go:build linux

package link

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// frame is what TestAnnounce checks of a captured announcement.
type frame struct {
	EthSrc, EthDst string
	Op             arp.Operation
	SenderHW       string
	SenderIP       netip.Addr
	TargetHW       string
	TargetIP       netip.Addr
	// NA only:
	IPSrc, IPDst      netip.Addr
	HopLimit          int
	Router, Solicited bool
	Override          bool
	TargetLLA         string
	// NA written to a fake only: the control message's interface and
	// the destination's zone.
	IfIndex int
	Zone    string
}

// capture opens a packet socket for ethType on n's eth0.
func capture(t *testing.T, n *lab.Node, ethType int) *packet.Conn {
	t.Helper()
	ifi := iface(t, n, "eth0")
	var pc *packet.Conn
	var err error
	in(t, n, func() { pc, err = packet.Listen(ifi, packet.Raw, ethType, nil) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// frames reads until n announcements about vip arrived, within a second
// and 100 frames, and decodes them.
func frames(t *testing.T, pc *packet.Conn, n int, vip netip.Addr) []frame {
	t.Helper()
	if err := pc.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []frame
	buf := make([]byte, 1600)
	for i := 0; i < 100 && len(got) < n; i++ {
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d announcements: %v", len(got), err)
		}
		var f ethernet.Frame
		if err := f.UnmarshalBinary(buf[:k]); err != nil {
			t.Fatal(err)
		}
		fr, ok, err := decode(&f, vip)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fr.EthSrc, fr.EthDst = f.Source.String(), f.Destination.String()
			got = append(got, fr)
		}
	}
	return got
}

// decode returns the ARP packet or NA in f if it is about vip.
func decode(f *ethernet.Frame, vip netip.Addr) (frame, bool, error) {
	if f.EtherType == ethernet.EtherTypeARP {
		var p arp.Packet
		if err := p.UnmarshalBinary(f.Payload); err != nil {
			return frame{}, false, err
		}
		return frame{Op: p.Operation, SenderHW: p.SenderHardwareAddr.String(), SenderIP: p.SenderIP,
			TargetHW: p.TargetHardwareAddr.String(), TargetIP: p.TargetIP}, p.SenderIP == vip, nil
	}
	h, err := ipv6.ParseHeader(f.Payload)
	if err != nil || h.NextHeader != unix.IPPROTO_ICMPV6 {
		return frame{}, false, err
	}
	m, err := ndp.ParseMessage(f.Payload[ipv6.HeaderLen:])
	na, ok := m.(*ndp.NeighborAdvertisement)
	if err != nil || !ok || na.TargetAddress != vip {
		return frame{}, false, nil // DAD, MLD and other ICMPv6
	}
	fr := frame{IPSrc: ipAddr(h.Src), IPDst: ipAddr(h.Dst), HopLimit: h.HopLimit,
		Router: na.Router, Solicited: na.Solicited, Override: na.Override}
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			fr.TargetLLA = lla.Addr.String()
		}
	}
	return fr, true, nil
}

// TestAnnounce sends one round from a node without any IPv4 address (nor a
// global IPv6 one) and checks the frames on another node.
func TestAnnounce(t *testing.T) {
	l := lab.New(t, 2)
	bare, n2 := l.Nodes[0], l.Nodes[1]
	strip(t, bare)
	arpCap := capture(t, n2, unix.ETH_P_ARP)
	v6Cap := capture(t, n2, unix.ETH_P_IPV6)
	var a *Announcer
	var err error
	in(t, bare, func() { a, err = NewAnnouncer("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	vip4, vip6 := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:2::100")
	n, err := a.Announce([]netip.Addr{vip4, vip6})
	if err != nil || n != 3 {
		t.Fatalf("Announce = %d, %v; want 3, nil", n, err)
	}
	mac := iface(t, bare, "eth0").HardwareAddr.String()
	bcast := ethernet.Broadcast.String()
	wantARP := []frame{
		{EthSrc: mac, EthDst: bcast, Op: arp.OperationRequest, SenderHW: mac, SenderIP: vip4,
			TargetHW: net.HardwareAddr(make([]byte, 6)).String(), TargetIP: vip4},
		{EthSrc: mac, EthDst: bcast, Op: arp.OperationReply, SenderHW: mac, SenderIP: vip4, TargetHW: mac, TargetIP: vip4},
	}
	addrCmp := cmp.Comparer(func(x, y netip.Addr) bool { return x == y })
	if diff := cmp.Diff(wantARP, frames(t, arpCap, 2, vip4), addrCmp); diff != "" {
		t.Errorf("gratuitous ARP (-want +got):\n%s", diff)
	}
	wantNA := []frame{{EthSrc: mac, EthDst: "33:33:00:00:00:01", IPSrc: bare.LinkLocal,
		IPDst: netip.IPv6LinkLocalAllNodes(), HopLimit: 255, Override: true, TargetLLA: mac}}
	if diff := cmp.Diff(wantNA, frames(t, v6Cap, 1, vip6), addrCmp); diff != "" {
		t.Errorf("unsolicited NA (-want +got):\n%s", diff)
	}
}

// TestAnnounceNoLinkLocal: without IPv6 on the interface the IPv4 VIPs are
// still announced and the error says what is missing.
func TestAnnounceNoLinkLocal(t *testing.T) {
	l := lab.New(t, 1)
	n1 := l.Nodes[0]
	disableIPv6(t, n1)
	var a *Announcer
	var err error
	in(t, n1, func() { a, err = NewAnnouncer("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	n, err := a.Announce([]netip.Addr{netip.MustParseAddr("2001:2::100"), netip.MustParseAddr("198.18.0.100")})
	if n != 2 || err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("Announce = %d, %v; want 2 and an error about the link-local address", n, err)
	}
}

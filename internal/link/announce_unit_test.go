//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// linkAddr is an address as netlink lists it.
func linkAddr(prefix string, flags int) netlink.Addr {
	p := netip.MustParsePrefix(prefix)
	return netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Flags: flags}
}

// fakeAnnouncer returns an Announcer on testIfi whose IPv6 addresses are
// list, and its fakes.
func fakeAnnouncer(list ...netlink.Addr) (*Announcer, *fakeFrames, *fakeIP[ipv6.ControlMessage], *fakeAddrs) {
	fa, fi, fl := &fakeFrames{}, &fakeIP[ipv6.ControlMessage]{}, &fakeAddrs{list: list}
	return newAnnouncer(testIfi, fa, fi, fl), fa, fi, fl
}

// arpFrames decodes the frames written, with what they were written to.
func arpFrames(t *testing.T, written []fakeFrame) []frame {
	t.Helper()
	var got []frame
	for _, w := range written {
		var f ethernet.Frame
		if err := f.UnmarshalBinary(w.Frame); err != nil {
			t.Fatal(err)
		}
		fr, _, err := decode(&f, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if to, ok := w.To.(*packet.Addr); !ok || to.HardwareAddr.String() != ethernet.Broadcast.String() {
			t.Errorf("frame written to %v, want the broadcast address", w.To)
		}
		fr.EthSrc, fr.EthDst = f.Source.String(), f.Destination.String()
		got = append(got, fr)
	}
	return got
}

// nas decodes the neighbour advertisements written, with the IPv6 header
// fields of their control message and destination.
func nas(t *testing.T, written []fakeWrite[ipv6.ControlMessage]) []frame {
	t.Helper()
	var got []frame
	for _, w := range written {
		m, err := ndp.ParseMessage(w.Payload)
		if err != nil {
			t.Fatal(err)
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok {
			t.Fatalf("wrote %T, want a neighbour advertisement", m)
		}
		dst := w.Dst.(*net.IPAddr)
		fr := frame{IPSrc: ipAddr(w.CM.Src), IPDst: ipAddr(dst.IP), HopLimit: w.CM.HopLimit,
			Router: na.Router, Solicited: na.Solicited, Override: na.Override, TargetIP: na.TargetAddress,
			IfIndex: w.CM.IfIndex, Zone: dst.Zone}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				fr.TargetLLA = lla.Addr.String()
			}
		}
		got = append(got, fr)
	}
	return got
}

// TestAnnounceRound checks one round built without the kernel: both
// gratuitous ARP forms broadcast for each IPv4 VIP (an IPv4-mapped one
// too), and for an IPv6 VIP one unsolicited NA to ff02::1 on the
// interface, from its link-local address that is not tentative, hop
// limit 255, Override only.
func TestAnnounceRound(t *testing.T) {
	a, fa, fi, fl := fakeAnnouncer(
		linkAddr("2001:2::1/64", 0),
		linkAddr("fe80::9/64", unix.IFA_F_TENTATIVE),
		linkAddr("fe80::1/64", 0),
	)
	vip4, mapped, vip6 := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("::ffff:198.18.0.101"),
		netip.MustParseAddr("2001:2::100")
	n, err := a.Announce([]netip.Addr{vip4, mapped, vip6})
	if err != nil || n != 5 {
		t.Fatalf("Announce = %d, %v; want 5, nil", n, err)
	}
	mac, bcast, zero := testIfi.HardwareAddr.String(), ethernet.Broadcast.String(), net.HardwareAddr(make([]byte, 6)).String()
	var wantARP []frame
	for _, vip := range []netip.Addr{vip4, mapped.Unmap()} {
		wantARP = append(wantARP,
			frame{EthSrc: mac, EthDst: bcast, Op: arp.OperationRequest, SenderHW: mac, SenderIP: vip, TargetHW: zero, TargetIP: vip},
			frame{EthSrc: mac, EthDst: bcast, Op: arp.OperationReply, SenderHW: mac, SenderIP: vip, TargetHW: mac, TargetIP: vip})
	}
	if diff := cmp.Diff(wantARP, arpFrames(t, fa.written), addrCmp); diff != "" {
		t.Errorf("gratuitous ARP (-want +got):\n%s", diff)
	}
	wantNA := []frame{{IPSrc: src6, IPDst: netip.IPv6LinkLocalAllNodes(), HopLimit: 255, Override: true,
		TargetIP: vip6, TargetLLA: mac, IfIndex: 2, Zone: "2"}}
	if diff := cmp.Diff(wantNA, nas(t, fi.out), addrCmp); diff != "" {
		t.Errorf("unsolicited NA (-want +got):\n%s", diff)
	}
	if want := []string{fmt.Sprintf("2/%d", netlink.FAMILY_V6)}; !cmp.Equal(want, fl.asked) {
		t.Errorf("addresses listed for %v, want %v (interface index/family)", fl.asked, want)
	}
	if err := a.Close(); err != nil || !fa.closed || !fi.closed || !fl.closed {
		t.Errorf("Close = %v; closed ARP %v, ICMPv6 %v, netlink %v; want all", err, fa.closed, fi.closed, fl.closed)
	}
}

// TestAnnounceErrors: a VIP that cannot be announced does not stop the
// others, the count says what went out, and the error names the VIP, the
// interface and the cause.
func TestAnnounceErrors(t *testing.T) {
	vip4, vip6 := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:2::100")
	failed := errors.New("no buffer space")
	tests := []struct {
		name    string
		setup   func(*fakeFrames, *fakeIP[ipv6.ControlMessage], *fakeAddrs)
		wantN   int
		wantErr string
	}{
		{"no link-local", func(_ *fakeFrames, _ *fakeIP[ipv6.ControlMessage], fl *fakeAddrs) {
			fl.list = []netlink.Addr{linkAddr("2001:2::1/64", 0), linkAddr("fe80::1/64", unix.IFA_F_DADFAILED)}
		}, 2, "announcing 2001:2::100 on eth0: eth0 has no IPv6 link-local address"},
		{"netlink fails", func(_ *fakeFrames, _ *fakeIP[ipv6.ControlMessage], fl *fakeAddrs) { fl.err = failed },
			2, "announcing 2001:2::100 on eth0: listing IPv6 addresses: no buffer space"},
		{"ARP socket fails", func(fa *fakeFrames, _ *fakeIP[ipv6.ControlMessage], _ *fakeAddrs) { fa.writeErr = failed },
			1, "announcing 198.18.0.100 on eth0: no buffer space"},
		{"ICMPv6 socket fails", func(_ *fakeFrames, fi *fakeIP[ipv6.ControlMessage], _ *fakeAddrs) { fi.writeErr = failed },
			2, "announcing 2001:2::100 on eth0: no buffer space"},
	}
	for _, tt := range tests {
		a, fa, fi, fl := fakeAnnouncer(linkAddr("fe80::1/64", 0))
		tt.setup(fa, fi, fl)
		n, err := a.Announce([]netip.Addr{vip6, vip4})
		if n != tt.wantN || err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: Announce = %d, %v; want %d, %q", tt.name, n, err, tt.wantN, tt.wantErr)
		}
		if strings.HasSuffix(tt.name, "fails") && !errors.Is(err, failed) {
			t.Errorf("%s: %v does not wrap the cause", tt.name, err)
		}
	}
}

// TestAnnounceAfterDown: the ENETDOWN a packet socket keeps from its
// interface's earlier down state costs no gratuitous ARP; a persistent
// one is reported.
func TestAnnounceAfterDown(t *testing.T) {
	a, fa, _, _ := fakeAnnouncer()
	fa.pendingErr = unix.ENETDOWN
	if n, err := a.Announce([]netip.Addr{netip.MustParseAddr("198.18.0.7")}); err != nil || n != 2 || len(fa.written) != 2 {
		t.Errorf("Announce after a pending ENETDOWN: %d sent, %d written, %v; want 2, 2, nil", n, len(fa.written), err)
	}
	fa.writeErr = unix.ENETDOWN
	if _, err := a.Announce([]netip.Addr{netip.MustParseAddr("198.18.0.7")}); !errors.Is(err, unix.ENETDOWN) {
		t.Errorf("Announce on a down interface: %v, want ENETDOWN", err)
	}
}

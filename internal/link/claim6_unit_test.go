//go:build linux

package link

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

var (
	vip6A, vip6B = netip.MustParseAddr("2001:2::100"), netip.MustParseAddr("2001:2::1:101")
	linkLocal6   = netip.MustParseAddr("fe80::1")
	otherLL6     = netip.MustParseAddr("fe80::2")
)

// na describes one neighbour advertisement frame for naFrame.
type na struct {
	ethSrc, ethDst       net.HardwareAddr
	hop                  uint8
	solicited, override  bool
	target, ipSrc, ipDst netip.Addr
}

// naFrame builds the Ethernet frame of a; zero fields get an unsolicited
// NA with Override from otherMAC's link-local address to all nodes, hop
// limit 255, target vip6A.
func naFrame(t *testing.T, a na) []byte {
	t.Helper()
	if a.ethSrc == nil {
		a.ethSrc = otherMAC
	}
	if a.ethDst == nil {
		a.ethDst = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	}
	if a.hop == 0 {
		a.hop = 255
	}
	if !a.target.IsValid() {
		a.target = vip6A
	}
	if !a.ipSrc.IsValid() {
		a.ipSrc = otherLL6
	}
	if !a.ipDst.IsValid() {
		a.ipDst = netip.IPv6LinkLocalAllNodes()
	}
	body, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{Solicited: a.solicited, Override: a.override,
		TargetAddress: a.target, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: a.ethSrc}}})
	if err != nil {
		t.Fatal(err)
	}
	ip := make([]byte, ipv6.HeaderLen)
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:], uint16(len(body)))
	ip[6], ip[7] = unix.IPPROTO_ICMPV6, a.hop
	s, d := a.ipSrc.As16(), a.ipDst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	fb, err := (&ethernet.Frame{Destination: a.ethDst, Source: a.ethSrc, EtherType: ethernet.EtherTypeIPv6,
		Payload: append(ip, body...)}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fb
}

// fakeLL is an addrLister holding our link-local address.
func fakeLL() *fakeAddrs {
	return &fakeAddrs{list: []netlink.Addr{linkAddr("2001:2::1/64", 0), linkAddr(linkLocal6.String()+"/64", 0)}}
}

// TestClaimWatchProbes6: for an IPv6 VIP Await sends a neighbour
// solicitation from our link-local address to the VIP's solicited-node
// group (RFC 4861 §7.2.2; RFC 2464 §7 for its Ethernet address), hop limit
// 255, with our link-layer address and a checksum as golang.org/x/net/icmp
// computes it; IPv4 VIPs still get their ARP probe, in the order given.
func TestClaimWatchProbes6(t *testing.T) {
	f, fl := &fakeFrames{}, fakeLL()
	w := newClaimWatch(testIfi, f, fl)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := w.Await(ctx, []netip.Addr{vip6A, vipA, vip6B}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await with ctx over = %v", err)
	}
	if len(f.written) != 3 {
		t.Fatalf("%d frames written, want 3 (NS, ARP, NS)", len(f.written))
	}
	if got := arpFrames(t, f.written[1:2]); len(got) != 1 || got[0].TargetIP != vipA {
		t.Errorf("second frame %+v, want the ARP probe for %v", got, vipA)
	}
	type ns struct {
		EthSrc, EthDst, To string
		Src, Dst, Target   netip.Addr
		HopLimit           int
		SourceLLA          string
		Checksum           bool
	}
	var got []ns
	for _, w := range []fakeFrame{f.written[0], f.written[2]} {
		var fr ethernet.Frame
		if err := fr.UnmarshalBinary(w.Frame); err != nil {
			t.Fatal(err)
		}
		h, err := ipv6.ParseHeader(fr.Payload)
		if err != nil {
			t.Fatal(err)
		}
		body := fr.Payload[ipv6.HeaderLen:]
		m, err := ndp.ParseMessage(body)
		if err != nil {
			t.Fatal(err)
		}
		sol, ok := m.(*ndp.NeighborSolicitation)
		if !ok {
			t.Fatalf("sent %T, want a neighbour solicitation", m)
		}
		g := ns{EthSrc: fr.Source.String(), EthDst: fr.Destination.String(), To: w.To.(*packet.Addr).HardwareAddr.String(),
			Src: ipAddr(h.Src), Dst: ipAddr(h.Dst), Target: sol.TargetAddress, HopLimit: h.HopLimit}
		for _, o := range sol.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
				g.SourceLLA = lla.Addr.String()
			}
		}
		want, err := (&icmp.Message{Type: ipv6.ICMPTypeNeighborSolicitation, Body: &icmp.RawBody{Data: body[4:]}}).
			Marshal(icmp.IPv6PseudoHeader(h.Src, h.Dst))
		if err != nil {
			t.Fatal(err)
		}
		g.Checksum = string(want[2:4]) == string(body[2:4])
		got = append(got, g)
	}
	mac := testIfi.HardwareAddr.String()
	want := []ns{
		{EthSrc: mac, EthDst: "33:33:ff:00:01:00", To: "33:33:ff:00:01:00", Src: linkLocal6,
			Dst: netip.MustParseAddr("ff02::1:ff00:100"), Target: vip6A, HopLimit: 255, SourceLLA: mac, Checksum: true},
		{EthSrc: mac, EthDst: "33:33:ff:01:01:01", To: "33:33:ff:01:01:01", Src: linkLocal6,
			Dst: netip.MustParseAddr("ff02::1:ff01:101"), Target: vip6B, HopLimit: 255, SourceLLA: mac, Checksum: true},
	}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("solicitations (-want +got):\n%s", diff)
	}
	if err := w.Close(); err != nil || !fl.closed {
		t.Errorf("Close = %v, netlink handle closed %v", err, fl.closed)
	}
}

// TestClaimWatchNoLinkLocal: without a link-local address no solicitation
// can go out; Await still probes the IPv4 VIPs and waits for the
// announcements of all.
func TestClaimWatchNoLinkLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fl := &fakeAddrs{list: []netlink.Addr{linkAddr("2001:2::1/64", 0)}}
		f := &fakeFrames{in: make(chan []byte, 1)}
		go func() {
			time.Sleep(120 * time.Millisecond)
			f.in <- naFrame(t, na{override: true, target: vip6B})
		}()
		if err := newClaimWatch(testIfi, f, fl).Await(t.Context(), []netip.Addr{vip6A, vipA, vip6B}); err != nil {
			t.Fatalf("Await = %v, want nil at the announcement", err)
		}
		if got := arpFrames(t, f.written); len(got) != 1 || got[0].TargetIP != vipA {
			t.Errorf("written %+v, want only the ARP probe for %v", got, vipA)
		}
	})
}

// TestJudgeNA: only an unsolicited advertisement with Override, from
// another MAC, for a watched VIP, with hop limit 255, is a claim; a
// solicited one to our MAC is the answer to our probe; the rest are
// nothing.
func TestJudgeNA(t *testing.T) {
	mac := testIfi.HardwareAddr
	tests := []struct {
		name string
		na   na
		want naVerdict
	}{
		{"unsolicited with override", na{override: true}, naClaim},
		{"DAD answer: unsolicited to all nodes", na{override: true, ipSrc: vip6A}, naClaim},
		{"second VIP", na{override: true, target: vip6B}, naClaim},
		{"solicited to us", na{solicited: true, override: true, ethDst: mac, ipDst: linkLocal6}, naHeld},
		{"solicited without override to us", na{solicited: true, ethDst: mac, ipDst: linkLocal6}, naHeld},
		{"solicited to another host", na{solicited: true, override: true, ethDst: net.HardwareAddr{2, 0, 0, 0, 0, 3}}, naNone},
		{"without override", na{}, naNone},
		{"ours", na{override: true, ethSrc: mac}, naNone},
		{"another address", na{override: true, target: netip.MustParseAddr("2001:2::102")}, naNone},
		{"hop limit 254", na{override: true, hop: 254}, naNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f ethernet.Frame
			if err := f.UnmarshalBinary(naFrame(t, tt.na)); err != nil {
				t.Fatal(err)
			}
			if got := judgeNA(&f, mac, []netip.Addr{vip6A, vip6B}); got != tt.want {
				t.Errorf("judgeNA = %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("cut short", func(t *testing.T) {
		var f ethernet.Frame
		if err := f.UnmarshalBinary(naFrame(t, na{override: true})[:70]); err != nil {
			t.Fatal(err)
		}
		if got := judgeNA(&f, mac, []netip.Addr{vip6A}); got != naNone {
			t.Errorf("judgeNA of a truncated frame = %d, want none", got)
		}
	})
}

// TestClaimWatchClaim6: as for IPv4, the answer to our solicitation marks
// the VIP held and Await waits on for the unsolicited advertisement, or
// returns ErrHeld with ctx's cause; without any answer it returns ctx's
// cause alone.
func TestClaimWatchClaim6(t *testing.T) {
	mac := testIfi.HardwareAddr
	answer := func(t *testing.T) []byte {
		return naFrame(t, na{solicited: true, override: true, ethDst: mac, ipDst: linkLocal6})
	}
	t.Run("then announced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeFrames{in: make(chan []byte, 4)}
			f.in <- answer(t)
			f.in <- naFrame(t, na{override: true, ethSrc: mac}) // our own
			go func() {
				time.Sleep(120 * time.Millisecond)
				f.in <- naFrame(t, na{override: true})
			}()
			start := time.Now()
			if err := newClaimWatch(testIfi, f, fakeLL()).Await(t.Context(), []netip.Addr{vipA, vip6A}); err != nil {
				t.Fatalf("Await: %v, want nil at the announcement", err)
			}
			if took := time.Since(start); took != 120*time.Millisecond {
				t.Errorf("Await returned after %v, want 120ms: at the announcement, not the answer", took)
			}
		})
	})
	for _, held := range []bool{true, false} {
		t.Run(map[bool]string{true: "never announced", false: "no answer"}[held], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFrames{in: make(chan []byte, 4)}
				if held {
					f.in <- answer(t)
				}
				timeout := errors.New("no claim")
				ctx, cancel := context.WithTimeoutCause(t.Context(), 500*time.Millisecond, timeout)
				defer cancel()
				err := newClaimWatch(testIfi, f, fakeLL()).Await(ctx, []netip.Addr{vip6A})
				if !errors.Is(err, timeout) || errors.Is(err, ErrHeld) != held {
					t.Errorf("Await = %v, want ctx's cause %v, ErrHeld %t", err, timeout, held)
				}
			})
		})
	}
}

// TestClaimFilter runs the socket filter on frames: ARP and neighbour
// advertisements pass, in full up to claimSnap; other ICMPv6 (a
// solicitation), IPv4 and IPv6 with another next header do not.
func TestClaimFilter(t *testing.T) {
	raw, err := claimFilter()
	if err != nil {
		t.Fatal(err)
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	naf := naFrame(t, na{override: true})
	nsf := append([]byte(nil), naf...)
	nsf[14+ipv6.HeaderLen] = byte(ipv6.ICMPTypeNeighborSolicitation)
	udp := append([]byte(nil), naf...)
	udp[14+6] = unix.IPPROTO_UDP
	v4 := append([]byte(nil), naf...)
	v4[12], v4[13] = 0x08, 0x00
	tests := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"ARP", arpFrame(t, 1, otherMAC, vipA, zeroMAC, vipA), claimSnap},
		{"NA", naf, claimSnap},
		{"NS", nsf, 0},
		{"UDP over IPv6", udp, 0},
		{"IPv4", v4, 0},
	}
	for _, tt := range tests {
		got, err := vm.Run(tt.frame)
		if err != nil || got != tt.want {
			t.Errorf("%s: filter returns %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
}

//go:build linux

package nat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// greeter accepts connections inside a node's namespace, greets each with
// its own address and keeps it open until the test ends, so that the flow
// stays in the conntrack table.
func greeter(t *testing.T, n *lab.Node, addr netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n.Name, err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_, _ = fmt.Fprintf(c, "%s\n", addr)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
}

// dial connects from node n to addr and returns the greeting, keeping the
// connection open until the test ends.
func dial(t *testing.T, n *lab.Node, addr netip.AddrPort) (string, error) {
	t.Helper()
	var c net.Conn
	if err := n.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr.String(), 3*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading greeting from %s: %w", addr, err)
	}
	return line[:len(line)-1], nil
}

// flows returns the conntrack entries in ns of the given family whose
// original destination is dst.
func flows(t *testing.T, ns int, dst netip.AddrPort) []*netlink.ConntrackFlow {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns), unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatalf("opening conntrack handle: %v", err)
	}
	defer h.Close()
	fam := netlink.InetFamily(unix.AF_INET)
	if dst.Addr().Is6() {
		fam = unix.AF_INET6
	}
	all, err := h.ConntrackTableList(netlink.ConntrackTable, fam)
	if err != nil {
		t.Fatalf("listing conntrack: %v", err)
	}
	var out []*netlink.ConntrackFlow
	for _, f := range all {
		a, _ := netip.AddrFromSlice(f.Forward.DstIP)
		if f.Forward.Protocol == unix.IPPROTO_TCP && a.Unmap() == dst.Addr() && f.Forward.DstPort == dst.Port() {
			out = append(out, f)
		}
	}
	return out
}

func TestLabDNAT(t *testing.T) {
	for _, tt := range []struct {
		name, vip string
		v6        bool
	}{
		{"IPv4", "198.18.0.100", false},
		{"IPv6", "2001:2::100", true},
	} {
		t.Run(tt.name, func(t *testing.T) { testDNAT(t, netip.MustParseAddr(tt.vip), tt.v6) })
	}
}

func testDNAT(t *testing.T, vip netip.Addr, v6 bool) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	static := n.IP4.Addr()
	if v6 {
		static = n.IP6.Addr()
	}
	tab, ns := labTable(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Run(ctx, "ip", "addr", "add", netip.PrefixFrom(vip, vip.BitLen()).String(), "dev", n.Iface); err != nil {
		t.Fatal(err)
	}
	mqtt := netip.AddrPortFrom(static, 1883)
	other := netip.AddrPortFrom(static, 2883)
	greeter(t, n, mqtt)
	greeter(t, n, other)
	atVIP := netip.AddrPortFrom(vip, 1883)

	refused := func(when string) {
		t.Helper()
		for _, from := range []*lab.Node{l.Client, n} {
			if got, err := dial(t, from, atVIP); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: %s dialling %s: %q, %v; want connection refused", when, from.Name, atVIP, got, err)
			}
		}
	}
	refused("before Apply")

	if err := tab.Apply([]Rule{{VIP: vip, Port: 1883, To: mqtt}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	// The client goes through prerouting, the node itself through output.
	for _, from := range []*lab.Node{l.Client, n} {
		if got, err := dial(t, from, atVIP); err != nil || got != mqtt.String() {
			t.Errorf("%s dialling %s through DNAT: %q, %v; want greeting %q", from.Name, atVIP, got, err, mqtt)
		}
	}
	if got, err := dial(t, l.Client, other); err != nil || got != other.String() {
		t.Fatalf("client dialling %s directly: %q, %v", other, got, err)
	}

	checkFlush(t, ns, vip, mqtt, other)

	if err := tab.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	refused("after Remove")
}

// checkFlush checks that FlushConntrack deletes the flows to vip:1883, which
// DNAT sent to mqtt, and leaves the unrelated flow to other alone.
func checkFlush(t *testing.T, ns int, vip netip.Addr, mqtt, other netip.AddrPort) {
	t.Helper()
	atVIP := netip.AddrPortFrom(vip, 1883)
	static := mqtt.Addr()
	before := flows(t, ns, atVIP)
	if len(before) < 2 {
		t.Fatalf("conntrack has %d flows to %s, want the client's and the node's: %v", len(before), atVIP, before)
	}
	for _, f := range before {
		if a, _ := netip.AddrFromSlice(f.Reverse.SrcIP); a.Unmap() != static || f.Reverse.SrcPort != 1883 {
			t.Errorf("flow to %s not translated to %s: %v", atVIP, mqtt, f)
		}
	}
	deleted, err := FlushConntrack(vip, []uint16{1883, 8883}, WithNetNS(ns))
	if err != nil {
		t.Fatalf("FlushConntrack: %v", err)
	}
	t.Logf("FlushConntrack(%s, [1883 8883]) deleted %d of %d flows to %s", vip, deleted, len(before), atVIP)
	if deleted < uint(len(before)) {
		t.Errorf("FlushConntrack deleted %d flows, want at least %d", deleted, len(before))
	}
	if left := flows(t, ns, atVIP); len(left) != 0 {
		t.Errorf("flows to %s after FlushConntrack: %v", atVIP, left)
	}
	if kept := flows(t, ns, other); len(kept) != 1 {
		t.Errorf("flows to %s after FlushConntrack: %v, want the one unrelated flow kept", other, kept)
	}

}

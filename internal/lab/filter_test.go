//go:build linux

package lab

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Negative probes wait this long for a datagram that must not arrive; on a
// bridge between namespaces a datagram that does arrive takes microseconds.
const dropWait = 300 * time.Millisecond

func TestFilterScript(t *testing.T) {
	l := &Lab{Prefix: "x", ipv6: true}
	n1, n2 := l.newNode("n1", "p1", 1), l.newNode("n2", "p2", 2)
	l.Nodes = []*Node{n1, n2}
	l.Client = l.newNode("c", "pc", clientNumber)
	const head = "table bridge carpdlab\ndelete table bridge carpdlab\n"
	const chain = "table bridge carpdlab {\n\tchain forward {\n" +
		"\t\ttype filter hook forward priority filter; policy accept;\n"
	const tail = "\t}\n}\n"
	tests := []struct {
		name  string
		state filterState
		want  string
	}{
		{"empty", filterState{}, head},
		{"loss all", filterState{loss: map[*Node]lossRule{n2: {pct: 30}}},
			head + chain + "\t\toifname \"p2\" numgen random mod 100 < 30 counter drop\n" + tail},
		{"loss 112", filterState{loss: map[*Node]lossRule{n1: {pct: 100, protos: []uint8{112}}}},
			head + chain +
				"\t\toifname \"p1\" ip protocol 112 counter drop\n" +
				"\t\toifname \"p1\" ip6 nexthdr 112 counter drop\n" + tail},
		{"partition and multicast", filterState{
			partitions: [][2]*Node{{n1, l.Client}},
			noMcast:    map[*Node]bool{n2: true},
		}, head + chain +
			"\t\tiifname \"p1\" oifname \"pc\" counter drop\n" +
			"\t\tiifname \"pc\" oifname \"p1\" counter drop\n" +
			"\t\toifname \"p2\" ip daddr 224.0.0.18 counter drop\n" +
			"\t\toifname \"p2\" ip6 daddr ff02::12 counter drop\n" + tail},
		{"one way, all and adverts", filterState{
			oneWay: []oneWayRule{{from: n1, to: n2}, {from: n2, to: l.Client, protos: []uint8{112}}},
		}, head + chain +
			"\t\tiifname \"p1\" oifname \"p2\" counter drop\n" +
			"\t\tiifname \"p2\" oifname \"pc\" ip protocol 112 counter drop\n" +
			"\t\tiifname \"p2\" oifname \"pc\" ip6 nexthdr 112 counter drop\n" + tail},
	}
	for _, tt := range tests {
		l.filter = tt.state
		if diff := cmp.Diff(tt.want, l.filterScript()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// rawCount sends one IP packet of protocol 112 from src to dst (IPv6 when
// v6) and reports how many dst received within wait.
func rawCount(t *testing.T, src, dst *Node, v6 bool, wait time.Duration) int {
	t.Helper()
	network, addr := "ip4:112", dst.IP4.Addr()
	if v6 {
		network, addr = "ip6:112", dst.IP6.Addr()
	}
	ip := &net.IPAddr{IP: addr.AsSlice()}
	var c *net.IPConn
	if err := dst.Do(func() (err error) { c, err = net.ListenIP(network, ip); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err := src.Do(func() error {
		s, err := net.DialIP(network, nil, ip)
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Write([]byte("not really an advertisement"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return received(t, c, 1, wait)
}

func TestLoss(t *testing.T) {
	t.Parallel()
	l := New(t, 3)
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]

	l.Loss(n2, 100)
	for _, v6 := range []bool{false, true} {
		if reaches(t, n1, n2, v6, dropWait) {
			t.Errorf("n1 reaches n2 (IPv6 %v) through 100%% loss", v6)
		}
	}
	if !reaches(t, n1, n3, false, 2*time.Second) {
		t.Error("n1 does not reach n3 while only n2 has loss")
	}
	l.Loss(n2, 0)
	if !reaches(t, n1, n2, false, 2*time.Second) {
		t.Error("n1 does not reach n2 after Loss(n2, 0)")
	}

	l.Loss(n2, 100, 112)
	for _, v6 := range []bool{false, true} {
		if got := rawCount(t, n1, n2, v6, dropWait); got != 0 {
			t.Errorf("n2 got %d protocol-112 packets (IPv6 %v) through 100%% loss of protocol 112", got, v6)
		}
		if !reaches(t, n1, n2, v6, 2*time.Second) {
			t.Errorf("UDP from n1 does not reach n2 (IPv6 %v) with loss of protocol 112 only", v6)
		}
	}
	l.Loss(n2, 0)
	for _, v6 := range []bool{false, true} {
		if got := rawCount(t, n1, n2, v6, 2*time.Second); got != 1 {
			t.Errorf("n2 got %d protocol-112 packets (IPv6 %v) after Loss(n2, 0), want 1", got, v6)
		}
	}

	// 50% of 100 datagrams: outside 15..85 is 7 standard deviations away.
	l.Loss(n2, 50)
	c := listenUDP(t, n2, n2.IP4.Addr())
	sendUDP(t, n1, c, 100)
	if got := received(t, c, 100, time.Second); got < 15 || got > 85 {
		t.Errorf("n2 got %d of 100 datagrams through 50%% loss", got)
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	l := New(t, 3)
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	l.Partition(n1, n2)
	tests := []struct {
		src, dst *Node
		want     bool
	}{
		{n1, n2, false}, {n2, n1, false}, {n1, n3, true}, {n3, n2, true}, {l.Client, n1, true},
	}
	for _, tt := range tests {
		wait := dropWait
		if tt.want {
			wait = 2 * time.Second
		}
		if got := reaches(t, tt.src, tt.dst, false, wait); got != tt.want {
			t.Errorf("partitioned n1|n2: %s reaches %s: %v, want %v", tt.src.Name, tt.dst.Name, got, tt.want)
		}
	}
	l.Heal()
	for _, tt := range tests {
		if !reaches(t, tt.src, tt.dst, false, 2*time.Second) {
			t.Errorf("healed: %s does not reach %s", tt.src.Name, tt.dst.Name)
		}
	}
}

// listenGroup joins n's eth0 to the CARP/VRRP group of the family and
// listens on groupPort.
func listenGroup(t *testing.T, n *Node, v6 bool) *net.UDPConn {
	t.Helper()
	network, group := "udp4", netip.MustParseAddr("224.0.0.18")
	if v6 {
		network, group = "udp6", netip.MustParseAddr("ff02::12")
	}
	var c *net.UDPConn
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(n.Iface)
		if err != nil {
			return err
		}
		c, err = net.ListenMulticastUDP(network, ifi, net.UDPAddrFromAddrPort(netip.AddrPortFrom(group, groupPort)))
		return err
	})
	if err != nil {
		t.Fatalf("joining %s in %s: %v", group, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBlockMulticast(t *testing.T) {
	t.Parallel()
	l := New(t, 3)
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	// The nodes have no default route; this one sends IPv4 multicast.
	if _, err := n1.Run(t.Context(), "ip", "route", "add", "224.0.0.0/4", "dev", n1.Iface); err != nil {
		t.Fatal(err)
	}
	// A numeric zone: package net caches interface names process-wide, so
	// "eth0" could resolve to another namespace's eth0.
	var index int
	if err := n1.Do(func() error {
		ifi, err := net.InterfaceByName(n1.Iface)
		if err == nil {
			index = ifi.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	groups := []netip.Addr{
		netip.MustParseAddr("224.0.0.18"),
		netip.MustParseAddr("ff02::12").WithZone(strconv.Itoa(index)),
	}
	// counts returns how many datagrams to each group n2 and n3 got.
	counts := func() []int {
		var got []int
		for _, g := range groups {
			c2, c3 := listenGroup(t, n2, g.Is6()), listenGroup(t, n3, g.Is6())
			sendUDPPort(t, n1, g, groupPort, 1)
			got = append(got, received(t, c2, 1, dropWait), received(t, c3, 1, dropWait))
			c2.Close()
			c3.Close()
		}
		return got
	}
	l.BlockMulticast(n2)
	if diff := cmp.Diff([]int{0, 1, 0, 1}, counts()); diff != "" {
		t.Errorf("n2, n3 received with n2 blocked, IPv4 then IPv6 (-want +got):\n%s", diff)
	}
	if !reaches(t, n1, n2, false, 2*time.Second) || !reaches(t, n1, n2, true, 2*time.Second) {
		t.Error("unicast from n1 does not reach n2 with multicast blocked")
	}
	l.AllowMulticast(n2)
	if diff := cmp.Diff([]int{1, 1, 1, 1}, counts()); diff != "" {
		t.Errorf("n2, n3 received after AllowMulticast, IPv4 then IPv6 (-want +got):\n%s", diff)
	}
}

func TestLinkDown(t *testing.T) {
	t.Parallel()
	l := New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	// link reports whether "ip -o link show" of n1's interface has all of
	// the words.
	link := func(words ...string) func() bool {
		return func() bool {
			out, err := n1.Run(t.Context(), "ip", "-o", "link", "show", "dev", n1.Iface)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range words {
				if !strings.Contains(string(out), w) {
					return false
				}
			}
			return true
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	n1.LinkDown()
	if err := WaitFor(ctx, 20*time.Millisecond, link("NO-CARRIER", "state DOWN")); err != nil {
		out, _ := n1.Run(t.Context(), "ip", "-o", "link", "show", "dev", n1.Iface)
		t.Fatalf("after LinkDown: %v: %s", err, out)
	}
	if reaches(t, n2, n1, false, dropWait) {
		t.Error("n2 reaches n1 with n1's link down")
	}
	n1.LinkUp()
	if err := WaitFor(ctx, 20*time.Millisecond, link("LOWER_UP", "state UP")); err != nil {
		out, _ := n1.Run(t.Context(), "ip", "-o", "link", "show", "dev", n1.Iface)
		t.Fatalf("after LinkUp: %v: %s", err, out)
	}
	if !reaches(t, n2, n1, false, 2*time.Second) {
		t.Error("n2 does not reach n1 after LinkUp")
	}
}

func TestOneWay(t *testing.T) {
	t.Parallel()
	l := New(t, 2, WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	l.OneWay(n1, n2, 112)
	if got := rawCount(t, n1, n2, false, dropWait); got != 0 {
		t.Errorf("protocol 112 n1->n2 dropped one way: %d arrived", got)
	}
	if got := rawCount(t, n2, n1, false, 2*time.Second); got != 1 {
		t.Errorf("protocol 112 n2->n1: %d arrived, want 1", got)
	}
	if !reaches(t, n1, n2, false, 2*time.Second) {
		t.Error("UDP n1->n2 dropped by a protocol 112 one-way rule")
	}
	l.Heal()
	l.OneWay(n1, n2)
	if reaches(t, n1, n2, false, dropWait) {
		t.Error("UDP n1->n2 passes a one-way drop of every frame")
	}
	if got := rawCount(t, n2, n1, false, 2*time.Second); got != 1 {
		t.Errorf("protocol 112 n2->n1 under n1->n2 drop: %d arrived, want 1", got)
	}
	l.Heal()
	if got := rawCount(t, n1, n2, false, 2*time.Second); got != 1 {
		t.Errorf("healed: protocol 112 n1->n2: %d arrived, want 1", got)
	}
}

//go:build linux

package lab

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// portsOf lists the switch ports joined to bridge.
func portsOf(t *testing.T, l *Lab, bridge string) []string {
	t.Helper()
	// Standard output only: to name a peer's namespace ip asks about every
	// namespace in /run/netns, and prints "Error: Peer netns reference is
	// invalid." for one that another test is deleting meanwhile.
	out, err := toolOutput(nil, "ip", "-n", l.Switch.NS, "-o", "link", "show", "master", bridge)
	if err != nil {
		t.Fatal(err)
	}
	// Lines look like "5: p1@if2: <BROADCAST,...> ...".
	var ports []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			ports = append(ports, name)
		}
	}
	return ports
}

func TestAttach(t *testing.T) {
	t.Parallel()
	l := New(t, 3)
	n1, n3 := l.Nodes[0], l.Nodes[2]
	tests := []struct {
		node  *Node
		seg   int
		iface string
		mac   string
		addrs []string
	}{
		{n1, 1, "eth1", "02:ca:4d:01:00:01", []string{
			"inet 198.18.1.1/24", "inet6 2001:2:0:1::1/64", "inet6 fe80::ca:4dff:fe01:1/64"}},
		{n3, 1, "eth1", "02:ca:4d:01:00:03", []string{
			"inet 198.18.1.3/24", "inet6 2001:2:0:1::3/64", "inet6 fe80::ca:4dff:fe01:3/64"}},
		{l.Client, 12, "eth12", "02:ca:4d:0c:00:c8", []string{
			"inet 198.18.12.200/24", "inet6 2001:2:0:12::200/64", "inet6 fe80::ca:4dff:fe0c:c8/64"}},
	}
	for _, tt := range tests {
		n := tt.node
		if got := n.Attach(tt.seg); got != tt.iface {
			t.Fatalf("%s.Attach(%d) = %q, want %q", n.Name, tt.seg, got, tt.iface)
		}
		if diff := cmp.Diff(tt.addrs, addrsOn(t, n, tt.iface)); diff != "" {
			t.Errorf("%s addresses on %s (-want +got):\n%s", n.Name, tt.iface, diff)
		}
		out, err := n.Run(t.Context(), "ip", "-o", "link", "show", "dev", tt.iface)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "link/ether "+tt.mac) {
			t.Errorf("%s link %s: %s, want MAC %s", n.Name, tt.iface, out, tt.mac)
		}
	}
	bridges := map[string][]string{
		"br0": {"p1", "p2", "p3", "pc"}, "br1": {"p1s1", "p3s1"}, "br12": {"pcs12"},
	}
	for br, want := range bridges {
		if diff := cmp.Diff(want, portsOf(t, l, br)); diff != "" {
			t.Errorf("ports of %s (-want +got):\n%s", br, diff)
		}
	}

	// Segment 1 carries its own traffic, which the filters on segment 0
	// do not touch.
	l.Partition(n1, n3)
	if reaches(t, n1, n3, false, dropWait) {
		t.Error("n1 reaches n3 on segment 0 through a partition")
	}
	for _, a := range []string{"198.18.1.3", "2001:2:0:1::3"} {
		if !reachesAddr(t, n1, n3, netip.MustParseAddr(a), 2*time.Second) {
			t.Errorf("n1 does not reach n3 at %s on segment 1", a)
		}
	}
}

//go:build linux

package link

import (
	"net"
	"os"
	"testing"

	"github.com/carpd/carpd/internal/lab"
)

// The root tests run in network namespaces built by internal/lab: nodes n1,
// n2, ... with eth0 on one bridge, 198.18.0.N/24 and 2001:2::N/64, and the
// lab's client at 198.18.0.200. These helpers fail the test on error.

// in runs fn inside n's namespace on a locked thread.
func in(t *testing.T, n *lab.Node, fn func()) {
	t.Helper()
	if err := n.Do(func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// iface returns n's interface ifname.
func iface(t *testing.T, n *lab.Node, ifname string) *net.Interface {
	t.Helper()
	var ifi *net.Interface
	var err error
	in(t, n, func() { ifi, err = net.InterfaceByName(ifname) })
	if err != nil {
		t.Fatal(err)
	}
	return ifi
}

// run runs argv in n's namespace.
func run(t *testing.T, n *lab.Node, argv ...string) {
	t.Helper()
	if _, err := n.Run(t.Context(), argv...); err != nil {
		t.Fatal(err)
	}
}

// strip removes the global addresses from n's eth0, IPv4 and IPv6, so that
// only its link-local address is left.
func strip(t *testing.T, n *lab.Node) {
	t.Helper()
	run(t, n, "ip", "addr", "flush", "dev", n.Iface, "scope", "global")
}

// disableIPv6 turns IPv6 off on n's eth0, which removes its link-local
// address too.
func disableIPv6(t *testing.T, n *lab.Node) {
	t.Helper()
	// /proc/sys/net is the namespace of the thread that opens it.
	path := "/proc/sys/net/ipv6/conf/" + n.Iface + "/disable_ipv6"
	if err := n.Do(func() error { return os.WriteFile(path, []byte("1"), 0o644) }); err != nil {
		t.Fatal(err)
	}
}

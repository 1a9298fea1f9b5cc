//go:build linux

package link

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// lab is a minimal network namespace lab for these tests: a switch
// namespace holding bridges, and node namespaces whose interfaces are veth
// pairs with the other end on a bridge. It uses only 198.18.0.0/15 and
// 2001:2::/48. (internal/lab is the full version; this package cannot wait
// for it.)
type lab struct {
	t      *testing.T
	prefix string
	sw     string
	nodes  map[string]netns.NsHandle
	nports int
}

// newLab creates the switch namespace, or skips the test when not root or
// without ip(8).
func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab test: needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("lab test: ip(8) not found")
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, prefix: "lk" + hex.EncodeToString(b[:]), nodes: make(map[string]netns.NsHandle)}
	l.sw = l.prefix + "sw"
	l.netns(l.sw)
	return l
}

// ip runs ip(8) with args and fails the test on error.
func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// netns adds a namespace, removed by t.Cleanup, with loopback up.
func (l *lab) netns(name string) {
	l.t.Helper()
	l.ip("netns", "add", name)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("removing namespace %s: %v: %s", name, err, out)
		}
	})
	l.ip("-n", name, "link", "set", "lo", "up")
}

// bridge adds a bridge to the switch namespace. Multicast snooping is off
// so MLD timing cannot hold back ff02::12.
func (l *lab) bridge(name string) {
	l.t.Helper()
	l.ip("-n", l.sw, "link", "add", name, "type", "bridge", "mcast_snooping", "0")
	l.ip("-n", l.sw, "link", "set", name, "up")
}

// node adds a node namespace with IPv6 DAD off, so link-local addresses are
// usable at once.
func (l *lab) node(name string) netns.NsHandle {
	l.t.Helper()
	full := l.prefix + name
	l.netns(full)
	for _, k := range []string{"all", "default"} {
		l.sysctl(name, "net.ipv6.conf."+k+".accept_dad=0")
	}
	h, err := netns.GetFromName(full)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { h.Close() })
	l.nodes[name] = h
	return h
}

func (l *lab) sysctl(node, kv string) {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.prefix+node, "sysctl", "-qw", kv).CombinedOutput()
	if err != nil {
		l.t.Fatalf("sysctl %s in %s: %v: %s", kv, node, err, out)
	}
}

// plug connects node's new interface ifname to bridge and gives it the
// addresses; it returns the name of the switch-side end.
func (l *lab) plug(node, ifname, bridge string, addrs ...string) string {
	l.t.Helper()
	l.nports++
	port := fmt.Sprintf("p%d", l.nports)
	l.ip("-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", l.prefix+node)
	l.ip("-n", l.sw, "link", "set", port, "master", bridge, "up")
	for _, a := range addrs {
		args := []string{"-n", l.prefix + node, "addr", "add", a, "dev", ifname}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		l.ip(args...)
	}
	l.ip("-n", l.prefix+node, "link", "set", ifname, "up")
	return port
}

// in runs fn inside node's namespace on a locked thread.
func (l *lab) in(node string, fn func()) {
	l.t.Helper()
	h, ok := l.nodes[node]
	if !ok {
		l.t.Fatalf("no node %s", node)
	}
	if err := within(h, func() error { fn(); return nil }); err != nil {
		l.t.Fatal(err)
	}
}

// iface returns node's interface ifname.
func (l *lab) iface(node, ifname string) *net.Interface {
	l.t.Helper()
	var ifi *net.Interface
	var err error
	l.in(node, func() { ifi, err = net.InterfaceByName(ifname) })
	if err != nil {
		l.t.Fatal(err)
	}
	return ifi
}

// linkLocal returns the link-local address of node's ifname.
func (l *lab) linkLocal(node, ifname string) netip.Addr {
	l.t.Helper()
	var a netip.Addr
	var err error
	l.in(node, func() { a, err = primaryOf(ifname, IPv6, nil) })
	if err != nil {
		l.t.Fatal(err)
	}
	return a
}

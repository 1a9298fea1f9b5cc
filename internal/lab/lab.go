//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// toolTimeout bounds each ip or nft command the lab runs itself.
	toolTimeout = 10 * time.Second
	// clientNumber is the client's host number in addresses and MAC, far
	// above node numbers and the usual virtual addresses.
	clientNumber = 200
	maxNodes     = 99
)

// Lab is one isolated Ethernet segment: a bridge in the Switch namespace,
// Nodes (n1, n2, ...) and a Client joined to it. Its fields are read-only.
// Methods of Lab and Node that cannot return an error fail the test given to
// New, so call them from that test's goroutine.
type Lab struct {
	// Prefix starts the name of every namespace of this lab,
	// "carpdlab-<pid>-<random>".
	Prefix string
	// Switch is the namespace holding bridge "br0" (its Iface). It has no
	// addresses and IPv6 is disabled there, so it never sends anything;
	// start tcpdump -i br0 in it to see every frame on the segment.
	Switch *Node
	// Nodes are n1..nN; Nodes[i] has host number i+1.
	Nodes []*Node
	// Client is an extra host on the segment (host number 200), for
	// clients of the service the nodes keep available.
	Client *Node

	tb   testing.TB
	ipv6 bool

	mu         sync.Mutex
	namespaces []string
	procs      []*Proc
	filter     filterState
	segments   map[int]bool // further segments whose bridge exists
}

// Node is one network namespace of a lab. Its fields are read-only.
type Node struct {
	// Name is the short name: "n1", "n2", ..., "c" for the client, "sw"
	// for the switch.
	Name string
	// NS is the network namespace name, as for "ip netns exec".
	NS string
	// Iface is the node's interface inside NS: "eth0", or "br0" on the
	// switch.
	Iface string
	// IP4 is 198.18.0.N/24; zero on the switch.
	IP4 netip.Prefix
	// IP6 is 2001:2::N/64; zero on the switch and without IPv6.
	IP6 netip.Prefix
	// LinkLocal is the EUI-64 link-local address derived from MAC; zero on
	// the switch and without IPv6.
	LinkLocal netip.Addr
	// MAC is Iface's fixed hardware address; nil on the switch.
	MAC net.HardwareAddr

	lab  *Lab
	port string // the switch-side veth, "pN"; empty on the switch
}

// Option changes how New builds a lab.
type Option func(*Lab)

// WithoutIPv6 disables IPv6 in the node and client namespaces, so they carry
// no IPv6 addresses and send no IPv6 at all (no MLD or router solicitations).
func WithoutIPv6() Option {
	return func(l *Lab) { l.ipv6 = false }
}

// New builds a lab with the given number of nodes (1..99) plus the client,
// and removes it when tb's test ends. It skips the test when not running as
// root or when ip(8) is missing, and fails it when the lab cannot be built.
func New(tb testing.TB, nodes int, opts ...Option) *Lab {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("lab: needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("lab: ip (iproute2) not found: ", err)
	}
	if nodes < 1 || nodes > maxNodes {
		tb.Fatalf("lab: %d nodes, want 1..%d", nodes, maxNodes)
	}
	l := &Lab{
		Prefix: fmt.Sprintf("carpdlab-%d-%08x", os.Getpid(), rand.Uint32()),
		tb:     tb,
		ipv6:   true,
	}
	for _, o := range opts {
		o(l)
	}
	// Registered before anything exists, so a half-built lab is removed too.
	tb.Cleanup(l.close)
	l.Switch = &Node{Name: "sw", NS: l.Prefix + "-sw", Iface: "br0", lab: l}
	if err := l.addSwitch(); err != nil {
		tb.Fatalf("lab: building switch: %v", err)
	}
	for i := 1; i <= nodes; i++ {
		n := l.newNode(fmt.Sprintf("n%d", i), fmt.Sprintf("p%d", i), i)
		if err := l.addNode(n); err != nil {
			tb.Fatalf("lab: building node %s: %v", n.Name, err)
		}
		l.Nodes = append(l.Nodes, n)
	}
	l.Client = l.newNode("c", "pc", clientNumber)
	if err := l.addNode(l.Client); err != nil {
		tb.Fatalf("lab: building client: %v", err)
	}
	return l
}

// newNode fills in a node's names and addresses from its host number.
func (l *Lab) newNode(name, port string, num int) *Node {
	n := &Node{
		Name:  name,
		NS:    l.Prefix + "-" + name,
		Iface: "eth0",
		IP4:   netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(num)}), 24),
		MAC:   net.HardwareAddr{0x02, 0xca, 0x4d, 0x00, 0x00, byte(num)},
		lab:   l,
		port:  port,
	}
	if l.ipv6 {
		// The host number is written in decimal, as in netns.sh: node 12
		// is 2001:2::12.
		n.IP6 = netip.MustParsePrefix(fmt.Sprintf("2001:2::%d/64", num))
		n.LinkLocal = linkLocal(n.MAC)
	}
	return n
}

// linkLocal returns the modified EUI-64 link-local address the kernel gives an
// interface with this 48-bit MAC (RFC 4291 appendix A).
func linkLocal(mac net.HardwareAddr) netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80}
	a[8] = mac[0] ^ 0x02
	a[9], a[10] = mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

// addSwitch creates the switch namespace and its bridge. IPv6 is off there so
// the switch never sends RS, MLD or DAD; multicast snooping is off so every
// multicast frame is flooded to all ports, as on a dumb switch.
func (l *Lab) addSwitch() error {
	sw := l.Switch
	if err := l.addNS(sw.NS); err != nil {
		return err
	}
	if err := sw.sysctls(map[string]string{
		"net/ipv6/conf/all/disable_ipv6":     "1",
		"net/ipv6/conf/default/disable_ipv6": "1",
	}); err != nil {
		return err
	}
	return runTools(bridgeCmds(sw.NS, "br0")...)
}

// bridgeCmds are the ip commands that add bridge name to namespace ns, a dumb
// switch as described at addSwitch.
func bridgeCmds(ns, name string) [][]string {
	return [][]string{
		{"-n", ns, "link", "add", name, "type", "bridge",
			"stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		{"-n", ns, "link", "set", name, "up"},
	}
}

// addNode creates a node namespace joined to the bridge. DAD is off so
// link-local and global IPv6 addresses are usable at once.
func (l *Lab) addNode(n *Node) error {
	if err := l.addNS(n.NS); err != nil {
		return err
	}
	sysctls := map[string]string{
		"net/ipv6/conf/all/accept_dad":     "0",
		"net/ipv6/conf/default/accept_dad": "0",
	}
	if !l.ipv6 {
		sysctls = map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "1",
			"net/ipv6/conf/default/disable_ipv6": "1",
		}
	}
	// Set before eth0 exists, so that eth0 inherits the defaults.
	if err := n.sysctls(sysctls); err != nil {
		return err
	}
	addrs := []netip.Prefix{n.IP4}
	if l.ipv6 {
		addrs = append(addrs, n.IP6)
	}
	return runTools(plugCmds(l.Switch.NS, n.NS, n.port, "br0", n.Iface, n.MAC, addrs)...)
}

// plugCmds are the ip commands that create interface iface in namespace ns,
// with the MAC and addresses given, as the peer of a veth whose other end,
// port, is created in the switch namespace sw and joined to bridge.
func plugCmds(sw, ns, port, bridge, iface string, mac net.HardwareAddr, addrs []netip.Prefix) [][]string {
	cmds := [][]string{
		{"-n", sw, "link", "add", port, "type", "veth",
			"peer", "name", iface, "address", mac.String(), "netns", ns},
		{"-n", sw, "link", "set", port, "master", bridge, "up"},
		{"-n", ns, "link", "set", iface, "up"},
	}
	for _, a := range addrs {
		cmd := []string{"-n", ns, "addr", "add", a.String(), "dev", iface}
		if a.Addr().Is6() {
			cmd = append(cmd, "nodad")
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// addNS creates a namespace, records it for cleanup and brings lo up.
func (l *Lab) addNS(name string) error {
	if err := runTool(nil, "ip", "netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
	return runTool(nil, "ip", "-n", name, "link", "set", "lo", "up")
}

// sysctls writes network sysctls (paths under /proc/sys) in the node's
// namespace. /proc/sys/net resolves to the namespace of the thread opening
// it, so no sysctl(8) is needed.
func (n *Node) sysctls(kv map[string]string) error {
	return n.Do(func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
				return fmt.Errorf("setting sysctl %s: %w", k, err)
			}
		}
		return nil
	})
}

// close stops the lab's processes, kills whatever else still runs in its
// namespaces (children of those, such as keepalived's VRRP process; nothing
// else can live in namespaces with this unique prefix) and deletes the
// namespaces, which also removes the veths and the bridge.
func (l *Lab) close() {
	l.mu.Lock()
	procs := l.procs
	namespaces := l.namespaces
	l.procs, l.namespaces = nil, nil
	l.mu.Unlock()

	stopAll(procs, 3*time.Second)
	for _, ns := range namespaces {
		out, err := toolOutput(nil, "ip", "netns", "pids", ns)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err != nil || pid <= 1 {
				continue
			}
			l.tb.Logf("lab: killing leftover PID %d in %s", pid, ns)
			_ = killPID(pid)
		}
	}
	for i := len(namespaces) - 1; i >= 0; i-- {
		if err := runTool(nil, "ip", "netns", "del", namespaces[i]); err != nil {
			l.tb.Errorf("lab: deleting namespace: %v", err)
		}
	}
}

// runTools runs several ip commands in order and stops at the first error.
func runTools(argvs ...[]string) error {
	for _, argv := range argvs {
		if err := runTool(nil, "ip", argv...); err != nil {
			return err
		}
	}
	return nil
}

// runTool runs a command the lab needs, bounded by toolTimeout, with stdin
// (may be nil) as its input.
func runTool(stdin []byte, name string, args ...string) error {
	_, err := toolOutput(stdin, name, args...)
	return err
}

// toolOutput is runTool returning standard output; the error carries the
// command and its standard error.
func toolOutput(stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err,
			bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

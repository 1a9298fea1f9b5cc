//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/daemon"
	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/nat"
	"github.com/vishvananda/netns"
)

// Timers of the broker lab: VRRPv3 at 200 ms (n2's master-down interval is
// 3 × 200 ms + (256 − 100)/256 × 200 ms ≈ 722 ms), a fast health check and
// probe.
const (
	brokerAdvert     = 200 * time.Millisecond
	brokerMasterDown = 3*brokerAdvert + 156*brokerAdvert/256
	probeInterval    = time.Second
	probeDeadline    = 800 * time.Millisecond
)

// brokerNode is one node of a broker lab: its mosquitto.conf and carpd
// configuration, and the carpd running them.
type brokerNode struct {
	n      *lab.Node
	dir    string
	conf   string // mosquitto.conf
	yaml   string // carpd configuration
	carpd  *carpdProc
	static netip.AddrPort
}

// brokerSetup configures a broker lab.
type brokerSetup struct {
	vrid            int
	garpBeforeReady bool
	healthFailures  int
	// homeAssistant enables broker.home_assistant with the node's name
	// (n1, n2) as node id.
	homeAssistant bool
	// ipv6 makes the router IPv6-only: VIP 2001:2::VRID, the brokers'
	// static addresses and probe peers the nodes' IPv6 addresses (the
	// bridge between the brokers still runs over IPv4).
	ipv6 bool
	// bin is the carpd binary to run; empty: this test binary.
	bin string
	// carp runs the router as CARP advbase 1 (the classic setup: advskew
	// 0 on n1, 50 on n2, with a password, preemption on) instead of
	// VRRPv3 at brokerAdvert.
	carp bool
	// vmac sets vmac: true on both nodes.
	vmac bool
	// splitBrain is the router's split_brain; empty leaves the default.
	splitBrain string
	// defaultGARP leaves the router's garp section out, so the defaults
	// apply (5 packets 1.1 s apart, a second burst 5 s later) instead of
	// the lab's quick single burst.
	defaultGARP bool
	// secondPath attaches both nodes to a second segment, where each
	// broker listens too and which the bridge and the probe (so the
	// heartbeat) use: a cut of the lab's own segment then leaves the
	// broker path whole.
	secondPath bool
}

// pathAddr is n's address on the second path: 198.18.1.N.
func pathAddr(n *lab.Node) netip.Addr {
	a := n.IP4.Addr().As4()
	return netip.AddrFrom4([4]byte{198, 18, 1, a[3]})
}

// static is the broker's static address on n: the DNAT target.
func (s brokerSetup) static(n *lab.Node) netip.Addr {
	if s.ipv6 {
		return n.IP6.Addr()
	}
	return n.IP4.Addr()
}

// needBrokerLab skips without mosquitto (Debian package mosquitto) or nft.
func needBrokerLab(t *testing.T) {
	t.Helper()
	for _, p := range []string{"mosquitto", "nft"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not found (Debian packages mosquitto, nftables): %v", p, err)
		}
	}
}

// newBrokerLab builds two nodes running carpd with a supervised mosquitto
// each, bridged as in the classic setup (bridge on n1 only), n1 preferred.
// It returns once n1 is MASTER (its promotion done), n2 BACKUP and both
// brokers are ready.
func newBrokerLab(t *testing.T, s brokerSetup) (*lab.Lab, netip.Addr, [2]*brokerNode) {
	t.Helper()
	needBrokerLab(t)
	var opts []lab.Option
	vip := netip.AddrFrom4([4]byte{198, 18, 0, byte(s.vrid)})
	if s.ipv6 {
		vip = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 15: byte(s.vrid)})
	} else {
		opts = append(opts, lab.WithoutIPv6())
	}
	l := lab.New(t, 2, opts...)
	bin := s.bin
	if bin == "" {
		bin = os.Args[0]
	}
	var nodes [2]*brokerNode
	if s.secondPath {
		for _, n := range l.Nodes {
			n.Attach(1)
		}
	}
	for i, n := range l.Nodes {
		b := &brokerNode{n: n, dir: t.TempDir(), static: netip.AddrPortFrom(s.static(n), 1883)}
		peer := l.Nodes[1-i]
		var bridge []string
		if s.ipv6 {
			// mosquitto 2.0.11 reads a bridge address as HOST:PORT
			// split at the first colon, so the bridge stays on IPv4.
			bridge = append(bridge, fmt.Sprintf("listener 1883 %s", n.IP4.Addr()))
		}
		bridgeTo := peer.IP4.Addr()
		if s.secondPath {
			bridge = append(bridge, fmt.Sprintf("listener 1883 %s", pathAddr(n)))
			bridgeTo = pathAddr(peer)
		}
		if i == 0 {
			bridge = append(bridge, "connection peer", "address "+bridgeTo.String()+":1883",
				"remote_clientid bridge-n1", "try_private true", "cleansession true", "keepalive_interval 5",
				`topic home/# both 2 "" ""`)
		}
		b.conf = writeMosquittoConf(t, b.dir, b.static, bridge...)
		b.yaml = filepath.Join(b.dir, "carpd.yaml")
		writeFile(t, b.yaml, carpdBrokerYAML(s, b, peer, vip, 150-50*i))
		nodes[i] = b
	}
	// n2 first, so that its broker is up when n1's bridge first dials
	// (mosquitto 2.0.11 retries a failed bridge only after several
	// seconds); n1 then preempts.
	nodes[1].carpd = startCarpdBin(t, bin, nodes[1].n, "", "-c", nodes[1].yaml)
	nodes[1].waitBroker(t, "ready", 10*time.Second, func(bs *daemon.BrokerStatus) bool { return bs.Ready })
	nodes[0].carpd = startCarpdBin(t, bin, nodes[0].n, "", "-c", nodes[0].yaml)
	nodes[0].carpd.waitState(t, "MASTER", 10*time.Second)
	// The state changes first; the promotion's steps (DNAT, broker
	// restart) end with the transition's log line.
	lab.Wait(t, 10*time.Second, "n1's promotion done", func() bool {
		return strings.Contains(readLog(t, nodes[0].carpd), `"to":"MASTER","state":"MASTER"`)
	})
	nodes[1].carpd.waitState(t, "BACKUP", 10*time.Second)
	// If n2 was MASTER before n1 came, its demotion steps (await-claim
	// first) finish after the state change.
	lab.Wait(t, 10*time.Second, "n2 without DNAT", func() bool { return len(dnatRules(t, nodes[1].n)) == 0 })
	for _, b := range nodes {
		b.waitBroker(t, "ready", 10*time.Second, func(bs *daemon.BrokerStatus) bool { return bs.Ready })
	}
	return l, vip, nodes
}

// writeMosquittoConf writes a broker config listening on the static
// address only; the VIP reaches it through carpd's DNAT.
func writeMosquittoConf(t *testing.T, dir string, static netip.AddrPort, extra ...string) string {
	t.Helper()
	lines := append([]string{
		fmt.Sprintf("listener %d %s", static.Port(), static.Addr()),
		"allow_anonymous true",
		"persistence false",
		"log_dest stderr",
		"log_type error", "log_type warning", "log_type notice",
		"user root",
	}, extra...)
	path := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, path, strings.Join(lines, "\n")+"\n")
	return path
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// carpdBrokerYAML is a node's carpd configuration. Each node is told its
// probe peer: carpd does not learn it from the adverts.
func carpdBrokerYAML(s brokerSetup, b *brokerNode, peer *lab.Node, vip netip.Addr, prio int) string {
	failures := s.healthFailures
	if failures == 0 {
		failures = 3
	}
	peerLine := ", peer: '" + s.static(peer).String() + "'"
	if s.secondPath {
		peerLine = ", peer: '" + pathAddr(peer).String() + "'"
	}
	hassLine, vmacLine := "", ""
	garpLine := "    garp: {repeat: 3, interval: 100ms, delay: 0}\n"
	if s.defaultGARP {
		garpLine = ""
	}
	if s.vmac {
		vmacLine = "    vmac: true\n"
	}
	if s.homeAssistant {
		hassLine = "\n  home_assistant: {enabled: true, node_id: " + b.n.Name + "}"
	}
	router := fmt.Sprintf(`    proto: vrrp3
    vrid: %d
    interval: %v
    priority: %d
`, s.vrid, brokerAdvert, prio)
	if s.carp {
		router = fmt.Sprintf(`    proto: carp
    vhid: %d
    advbase: 1
    advskew: %d
    preempt: true
    password: carpd-lab
`, s.vrid, 150-prio)
	}
	return fmt.Sprintf(`broker:
  config: %s
  ready_timeout: 5s
  stop_timeout: 2s
  backoff: {base: 100ms, cap: 400ms}
  garp_before_ready: %t
  health: {interval: 500ms, timeout: 400ms, failures: %d}
  probe: {topic: home/carpd-probe, interval: %v, deadline: %v%s}%s
routers:
  - name: mqtt
    iface: %s
%s    vips: ['%s']
%s%s%s`, b.conf, s.garpBeforeReady, failures, probeInterval, probeDeadline, peerLine, hassLine, b.n.Iface, router, vip,
		garpLine, vmacLine, splitBrainLine(s.splitBrain))
}

// splitBrainLine is the router's split_brain key, if set.
func splitBrainLine(mode string) string {
	if mode == "" {
		return ""
	}
	return "    split_brain: " + mode + "\n"
}

// brokerStatus asks carpd for its broker's status.
func (b *brokerNode) brokerStatus() (*daemon.BrokerStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, b.carpd.dir, control.Request{Op: "status"})
	if err != nil {
		return nil, err
	}
	if resp.Status.Broker == nil {
		return nil, fmt.Errorf("no broker in status")
	}
	return resp.Status.Broker, nil
}

// waitBroker waits until cond holds for the broker status.
func (b *brokerNode) waitBroker(t *testing.T, what string, timeout time.Duration, cond func(*daemon.BrokerStatus) bool) {
	t.Helper()
	lab.Wait(t, timeout, b.n.Name+" broker "+what, func() bool {
		bs, err := b.brokerStatus()
		return err == nil && cond(bs)
	})
}

// dnatRules reads carpd's DNAT rules back from the node's kernel.
func dnatRules(t *testing.T, n *lab.Node) []string {
	t.Helper()
	h, err := netns.GetFromName(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Rules reads the two chains one after the other; a replace by carpd
	// in between looks like drift, so read again a few times.
	var rules []nat.Rule
	for range 5 {
		if rules, err = nat.New(nat.WithNetNS(int(h))).Rules(); !errors.Is(err, nat.ErrDrift) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("reading DNAT rules of %s: %v", n.Name, err)
	}
	out := []string{}
	for _, r := range rules {
		out = append(out, r.String())
	}
	return out
}

// wantDNAT checks that n holds exactly the rule for vip (or none), in both
// chains of its table.
func wantDNAT(t *testing.T, n *lab.Node, vip netip.Addr, present bool) {
	t.Helper()
	static, family := n.IP4.Addr(), "ip"
	if vip.Is6() {
		static, family = n.IP6.Addr(), "ip6"
	}
	to := netip.AddrPortFrom(static, 1883).String()
	want := []string{}
	if present {
		want = []string{netip.AddrPortFrom(vip, 1883).String() + "->" + to}
	}
	if got := dnatRules(t, n); !slices.Equal(got, want) {
		t.Errorf("%s DNAT rules %q, want %q", n.Name, got, want)
	}
	if !present {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := n.Run(ctx, "nft", "list", "table", family, "carpd")
	if err != nil {
		t.Fatal(err)
	}
	for _, chain := range []string{"prerouting", "output"} {
		if !strings.Contains(string(out), "chain "+chain) ||
			strings.Count(string(out), "dnat to "+to) != 2 {
			t.Errorf("%s: nft shows no DNAT in chain %s:\n%s", n.Name, chain, out)
		}
	}
}

// labDialer dials from inside a lab namespace.
func labDialer(n *lab.Node) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var conn net.Conn
		err := n.Do(func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return conn, err
	}
}

// alive reports whether pid still runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

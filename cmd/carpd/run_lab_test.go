//go:build linux

package main

import (
	"context"
	"fmt"
	"github.com/carpd/carpd/internal/status"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/lab"
)

// labMainEnv makes the test binary run carpd's main instead of the tests:
// the lab tests start it in namespaces as the real carpd, built from the
// same sources (and with the race detector when the tests have it).
const labMainEnv = "CARPD_LAB_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(labMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// carpdProc is a carpd running in a lab node.
type carpdProc struct {
	*lab.Proc
	dir  string
	node *lab.Node
}

// stateDir is a state directory for one carpd that carpd itself creates
// (0700): t.TempDir is 0755, which carpd refuses.
func stateDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state")
}

// startCarpd runs `carpd run --state-dir DIR ARGS` in n. dir is reused
// when given, so a restart finds the old state directory.
func startCarpd(t *testing.T, n *lab.Node, dir string, args ...string) *carpdProc {
	t.Helper()
	return startCarpdBin(t, os.Args[0], n, dir, args...)
}

// startCarpdBin is startCarpd running the carpd binary bin instead of this
// test binary: another build, to compare with.
func startCarpdBin(t *testing.T, bin string, n *lab.Node, dir string, args ...string) *carpdProc {
	t.Helper()
	if dir == "" {
		dir = stateDir(t)
	}
	argv := append([]string{"env", labMainEnv + "=1", bin, "run", "--state-dir", dir,
		"--log-format", "json", "--log-level", "debug"}, args...)
	return &carpdProc{Proc: n.Start(t, argv...), dir: dir, node: n}
}

// status asks the running carpd for its first router's status.
func (c *carpdProc) status() (status.Router, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, c.dir, control.Request{Op: "status"})
	if err != nil {
		return status.Router{}, err
	}
	if len(resp.Status.Routers) == 0 {
		return status.Router{}, nil
	}
	return resp.Status.Routers[0], nil
}

// fullStatus asks the running carpd for its whole status.
func (c *carpdProc) fullStatus(t *testing.T) *status.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, c.dir, control.Request{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

// waitState waits until the first router is in state and returns how long
// that took.
func (c *carpdProc) waitState(t *testing.T, state string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	lab.Wait(t, timeout, c.node.Name+" "+state, func() bool {
		st, err := c.status()
		return err == nil && st.State == state
	})
	return time.Since(start)
}

// arpOwner resolves vip from the lab's client and returns the MAC that
// answered, or an error if nobody did within 200 ms.
func arpOwner(l *lab.Lab, vip netip.Addr) (net.HardwareAddr, error) {
	return l.ARPOwner(vip, 200*time.Millisecond)
}

// carpArgs is a ucarp-style command line for node n.
func carpArgs(n *lab.Node, vhid, skew, pass, vip string, extra ...string) []string {
	return append([]string{"-i", n.Iface, "-s", n.IP4.Addr().String(), "-v", vhid, "-p", pass, "-a", vip,
		"-b", "1", "-k", skew}, extra...)
}

// TestLabKillAndLinkDown: two carpd nodes elect one master; SIGKILL of the
// master plus its link down lets the backup take the VIP and answer ARP
// within its master-down interval; restarting carpd on the old master
// removes the stale VIP it left before electing.
func TestLabKillAndLinkDown(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.10")
	a := startCarpd(t, n1, "", carpArgs(n1, "10", "0", "s3cret", vip.String())...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", carpArgs(n2, "10", "50", "s3cret", vip.String())...)
	b.waitState(t, "BACKUP", 5*time.Second)
	if mac, err := arpOwner(l, vip); err != nil || mac.String() != n1.MAC.String() {
		t.Fatalf("ARP for %v answered by %v (%v), want n1 %v", vip, mac, err, n1.MAC)
	}

	start := time.Now()
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n1.LinkDown()
	// n2's master-down interval: 3 × advbase + 50/256 s = 3.195 s.
	bound := 3195 * time.Millisecond
	lab.Wait(t, bound+5*time.Second, "n2 answering ARP", func() bool {
		mac, err := arpOwner(l, vip)
		return err == nil && mac.String() == n2.MAC.String()
	})
	took := time.Since(start)
	t.Logf("takeover after SIGKILL + link down: %v (master-down %v)", took.Round(time.Millisecond), bound)
	if took > bound+3*time.Second {
		t.Errorf("takeover took %v, want about %v", took, bound)
	}
	if !n1.HasAddr(vip) {
		t.Fatalf("SIGKILL removed the VIP from n1; the leftover test needs it there")
	}

	n1.LinkUp()
	a2 := startCarpd(t, n1, a.dir, carpArgs(n1, "10", "0", "s3cret", vip.String())...)
	a2.waitState(t, "BACKUP", 5*time.Second)
	if n1.HasAddr(vip) {
		t.Errorf("restarted carpd left the stale VIP on n1")
	}
	if out := readLog(t, a2); !strings.Contains(out, `"msg":"removed leftover VIP"`) {
		t.Errorf("restarted carpd did not log the leftover; log:\n%s", out)
	}
	if st, _ := b.status(); st.State != "MASTER" {
		t.Errorf("n2 is %s after n1's restart, want MASTER (no preemption)", st.State)
	}
}

// TestLabTermBowOut: SIGTERM of the master hands over at once (bow-out),
// the old master removes its VIP and exits 0.
func TestLabTermBowOut(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.11")
	a := startCarpd(t, n1, "", carpArgs(n1, "11", "0", "s3cret", vip.String())...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", carpArgs(n2, "11", "50", "s3cret", vip.String())...)
	b.waitState(t, "BACKUP", 5*time.Second)
	// A bow-out counts only from the master b follows (docs/protocol.md §3.2).
	lab.Wait(t, 3*time.Second, "n2 to follow n1", func() bool {
		st, err := b.status()
		return err == nil && st.Master == n1.IP4.Addr().String()
	})

	start := time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, "MASTER", 5*time.Second)
	took := time.Since(start)
	t.Logf("takeover after SIGTERM: within %v", took.Round(time.Millisecond))
	// The bow-out makes the backup claim at once; its master-down would
	// be 3.2 s.
	if took > 1500*time.Millisecond {
		t.Errorf("takeover took %v: no bow-out?", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(ctx); err != nil {
		t.Errorf("carpd after SIGTERM: %v, want exit 0", err)
	}
	if n1.HasAddr(vip) {
		t.Errorf("VIP still on n1 after SIGTERM")
	}
	lab.Wait(t, 2*time.Second, "VIP on n2", func() bool { return n2.HasAddr(vip) })
	t.Logf("shutdown done %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// readLog returns the process's log so far.
func readLog(t *testing.T, c *carpdProc) string {
	t.Helper()
	b, err := os.ReadFile(c.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// vrrpArgs is a fast VRRPv3 command line for node n (200 ms adverts).
func vrrpArgs(n *lab.Node, vrid, prio, vip string, extra ...string) []string {
	return append([]string{"--proto", "vrrp3", "--interval", "200ms", "-i", n.Iface, "-v", vrid, "-a", vip,
		"--priority", prio}, extra...)
}

// masters returns the names of the nodes whose carpd is MASTER.
func masters(cs ...*carpdProc) []string {
	var out []string
	for _, c := range cs {
		if st, err := c.status(); err == nil && st.State == "MASTER" {
			out = append(out, c.node.Name)
		}
	}
	return out
}

// TestLabThreeNodesPreemption: with preemption (the VRRP default) a higher
// priority takes over from a running master; with --nopreempt it does
// not; of three nodes exactly one is master and holds the VIP, and when it
// dies the best remaining node takes over.
func TestLabThreeNodesPreemption(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 3, lab.WithoutIPv6())
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	vip := netip.MustParseAddr("198.18.0.15")
	a := startCarpd(t, n1, "", vrrpArgs(n1, "15", "100", vip.String())...)
	a.waitState(t, "MASTER", 5*time.Second)
	b := startCarpd(t, n2, "", vrrpArgs(n2, "15", "150", vip.String())...)
	b.waitState(t, "MASTER", 5*time.Second) // preempts n1
	a.waitState(t, "BACKUP", 2*time.Second)
	c := startCarpd(t, n3, "", vrrpArgs(n3, "15", "200", vip.String(), "--nopreempt")...)
	c.waitState(t, "BACKUP", 2*time.Second)
	time.Sleep(time.Second) // > 3 master-down intervals: n3 must not preempt
	if got := masters(a, b, c); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("masters %v, want only n2", got)
	}
	if !n2.HasAddr(vip) || n1.HasAddr(vip) || n3.HasAddr(vip) {
		t.Errorf("VIP on n1 %v n2 %v n3 %v, want n2 only", n1.HasAddr(vip), n2.HasAddr(vip), n3.HasAddr(vip))
	}

	if err := b.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n2.LinkDown()
	c.waitState(t, "MASTER", 3*time.Second) // highest remaining priority claims first
	time.Sleep(time.Second)
	if got := masters(a, c); !slices.Equal(got, []string{"n3"}) {
		t.Errorf("masters after n2 died %v, want only n3", got)
	}
	lab.Wait(t, 2*time.Second, "VIP on n3", func() bool { return n3.HasAddr(vip) })
}

// TestLabUnicastPeers: with multicast dropped on the segment, two carpd
// nodes configured with unicast peers still elect one master.
func TestLabUnicastPeers(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	l.BlockMulticast(n1)
	l.BlockMulticast(n2)
	vip := "198.18.0.16"
	a := startCarpd(t, n1, "", carpArgs(n1, "16", "0", "s3cret", vip, "--peer", n2.IP4.Addr().String())...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", carpArgs(n2, "16", "50", "s3cret", vip, "--peer", n1.IP4.Addr().String())...)
	b.waitState(t, "BACKUP", 5*time.Second)
	time.Sleep(4 * time.Second) // longer than n2's master-down
	if got := masters(a, b); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("masters %v, want only n1", got)
	}
	if st, _ := b.status(); st.Counters.Received < 3 || st.Master != n1.IP4.Addr().String() {
		t.Errorf("n2 accepted %d adverts from %s, want n1's unicast adverts", st.Counters.Received, st.Master)
	}
}

// TestLabSignals drives a carpd started from a file with signals: SIGHUP
// applies a new VIP and priority without leaving MASTER and refuses an
// invalid file; SIGUSR1 logs the state; SIGUSR2 steps down once.
func TestLabSignals(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 1, lab.WithoutIPv6())
	n1 := l.Nodes[0]
	dir := t.TempDir()
	conf := dir + "/carpd.yaml"
	notify := dir + "/notify"
	if err := os.WriteFile(notify, []byte("#!/bin/sh\necho \"$@\" >> "+dir+"/calls\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(prio int, vips string) {
		t.Helper()
		yaml := fmt.Sprintf("routers:\n  - name: web\n    iface: eth0\n    proto: vrrp3\n    vrid: 17\n"+
			"    interval: 200ms\n    priority: %d\n    vips: [%s]\n    hooks:\n      notify: [%s]\n", prio, vips, notify)
		if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(100, "198.18.0.17")
	c := startCarpd(t, n1, "", "-c", conf)
	c.waitState(t, "MASTER", 5*time.Second)
	before, _ := c.status()

	write(120, "198.18.0.17, 198.18.0.18")
	if err := c.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 3*time.Second, "second VIP", func() bool { return n1.HasAddr(netip.MustParseAddr("198.18.0.18")) })
	st, _ := c.status()
	if st.State != "MASTER" || st.Counters.Transitions != before.Counters.Transitions || *st.Advertised.Priority != 120 {
		t.Errorf("after reload: %s, %d transitions (was %d), priority %d; want MASTER, unchanged, 120",
			st.State, st.Counters.Transitions, before.Counters.Transitions, *st.Advertised.Priority)
	}

	if err := os.WriteFile(conf, []byte("routers:\n  - name: web\n    vrid: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 3*time.Second, "refusal logged", func() bool {
		return strings.Contains(readLog(t, c), "reload refused; keeping the running configuration")
	})
	if st, _ := c.status(); st.State != "MASTER" || len(st.VIPs) != 2 {
		t.Errorf("after a refused reload: %s with %v", st.State, st.VIPs)
	}

	if err := c.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 3*time.Second, "status logged", func() bool {
		return strings.Contains(readLog(t, c), `"msg":"status","router":"web"`)
	})

	if err := c.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	// Alone on the segment it steps down, then claims again after its
	// master-down interval.
	lab.Wait(t, 5*time.Second, "step down and back", func() bool {
		b, _ := os.ReadFile(dir + "/calls")
		return strings.Contains(string(b), "INSTANCE web BACKUP 120\nINSTANCE web MASTER 120\n")
	})
}

// TestLabIPv6 elects over IPv6 (VRRPv3 from link-local sources to
// ff02::12) and moves an IPv6 VIP on SIGTERM.
func TestLabIPv6(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("2001:2::50")
	a := startCarpd(t, n1, "", vrrpArgs(n1, "50", "150", vip.String())...)
	b := startCarpd(t, n2, "", vrrpArgs(n2, "50", "100", vip.String())...)
	a.waitState(t, "MASTER", 10*time.Second)
	b.waitState(t, "BACKUP", 5*time.Second)
	lab.Wait(t, 3*time.Second, "n2 following n1", func() bool {
		st, err := b.status()
		return err == nil && st.Counters.Received >= 3 && st.Master == n1.LinkLocal.String()
	})
	lab.Wait(t, 3*time.Second, "VIP on n1", func() bool { return n1.HasAddr(vip) })
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, "MASTER", 3*time.Second)
	lab.Wait(t, 3*time.Second, "VIP moved to n2", func() bool { return n2.HasAddr(vip) && !n1.HasAddr(vip) })
}

// TestLabDaemonize runs carpd with ucarp's -B: the command returns, the
// background copy runs the router, logs to STATE_DIR/carpd.log and leaves
// cleanly on SIGTERM.
func TestLabDaemonize(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 1, lab.WithoutIPv6())
	n1 := l.Nodes[0]
	dir := stateDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n1.Run(ctx, append([]string{"env", labMainEnv + "=1", os.Args[0], "run", "--state-dir", dir, "-B"},
		vrrpArgs(n1, "19", "100", "198.18.0.19")...)...)
	if err != nil {
		t.Fatalf("carpd -B: %v", err)
	}
	var pid int
	if _, err := fmt.Sscanf(string(out), "carpd running in the background, pid %d", &pid); err != nil {
		t.Fatalf("carpd -B printed %q", out)
	}
	c := &carpdProc{dir: dir, node: n1}
	c.waitState(t, "MASTER", 5*time.Second)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 5*time.Second, "pid file gone", func() bool {
		_, err := os.Stat(dir + "/" + control.PIDFile)
		return os.IsNotExist(err)
	})
	b, err := os.ReadFile(dir + "/carpd.log")
	if err != nil || !strings.Contains(string(b), `msg=transition`) || !strings.Contains(string(b), "state=STOP") {
		t.Errorf("background log (%v):\n%s", err, b)
	}
}

//go:build linux

package lab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"
)

// addrsOf lists the addresses on n's interface as "ip -o addr" prints them.
func addrsOf(t *testing.T, n *Node) []string {
	t.Helper()
	return addrsOn(t, n, n.Iface)
}

// addrsOn lists the addresses on n's interface iface as "ip -o addr" prints
// them.
func addrsOn(t *testing.T, n *Node, iface string) []string {
	t.Helper()
	out, err := n.Run(t.Context(), "ip", "-o", "addr", "show", "dev", iface)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 {
			addrs = append(addrs, f[2]+" "+f[3])
		}
	}
	slices.Sort(addrs)
	return addrs
}

func TestNewAddresses(t *testing.T) {
	t.Parallel()
	l := New(t, 2)
	tests := []struct {
		node  *Node
		name  string
		mac   string
		addrs []string
	}{
		{l.Nodes[0], "n1", "02:ca:4d:00:00:01", []string{
			"inet 198.18.0.1/24", "inet6 2001:2::1/64", "inet6 fe80::ca:4dff:fe00:1/64"}},
		{l.Nodes[1], "n2", "02:ca:4d:00:00:02", []string{
			"inet 198.18.0.2/24", "inet6 2001:2::2/64", "inet6 fe80::ca:4dff:fe00:2/64"}},
		{l.Client, "c", "02:ca:4d:00:00:c8", []string{
			"inet 198.18.0.200/24", "inet6 2001:2::200/64", "inet6 fe80::ca:4dff:fe00:c8/64"}},
	}
	for _, tt := range tests {
		n := tt.node
		if n.Name != tt.name || n.NS != l.Prefix+"-"+tt.name || n.MAC.String() != tt.mac {
			t.Errorf("node %q NS %q MAC %s, want %q %q %s", n.Name, n.NS, n.MAC, tt.name, l.Prefix+"-"+tt.name, tt.mac)
		}
		fields := []string{"inet " + n.IP4.String(), "inet6 " + n.IP6.String(), "inet6 " + n.LinkLocal.String() + "/64"}
		slices.Sort(fields)
		if diff := cmp.Diff(tt.addrs, fields); diff != "" {
			t.Errorf("%s Node fields (-want +got):\n%s", n.Name, diff)
		}
		if diff := cmp.Diff(tt.addrs, addrsOf(t, n)); diff != "" {
			t.Errorf("%s addresses on %s (-want +got):\n%s", n.Name, n.Iface, diff)
		}
		out, err := n.Run(t.Context(), "ip", "-o", "link", "show", "dev", n.Iface)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "link/ether "+tt.mac) {
			t.Errorf("%s link: %s, want MAC %s", n.Name, out, tt.mac)
		}
		if !n.HasAddr(n.IP4.Addr()) || !n.HasAddr(n.LinkLocal) || n.HasAddr(netip.MustParseAddr("198.18.0.99")) {
			t.Errorf("%s: HasAddr is wrong about %s, %s or 198.18.0.99", n.Name, n.IP4.Addr(), n.LinkLocal)
		}
	}
	if !strings.HasPrefix(l.Prefix, "carpdlab-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("prefix %q does not name this process", l.Prefix)
	}
}

func TestWithoutIPv6(t *testing.T) {
	t.Parallel()
	l := New(t, 1, WithoutIPv6())
	n := l.Nodes[0]
	if diff := cmp.Diff([]string{"inet 198.18.0.1/24"}, addrsOf(t, n)); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if n.IP6.IsValid() || n.LinkLocal.IsValid() {
		t.Errorf("IP6 %v, LinkLocal %v, want none", n.IP6, n.LinkLocal)
	}
	if diff := cmp.Diff([]string{"inet 198.18.1.1/24"}, addrsOn(t, n, n.Attach(1))); diff != "" {
		t.Errorf("addresses on segment 1 (-want +got):\n%s", diff)
	}
}

func TestReach(t *testing.T) {
	t.Parallel()
	l := New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	tests := []struct {
		src, dst *Node
		v6       bool
	}{
		{n1, n2, false}, {n2, n1, false}, {n1, n2, true}, {l.Client, n1, false}, {n2, l.Client, true},
	}
	for _, tt := range tests {
		if !reaches(t, tt.src, tt.dst, tt.v6, 2*time.Second) {
			t.Errorf("%s does not reach %s (IPv6 %v)", tt.src.Name, tt.dst.Name, tt.v6)
		}
	}
}

// threadNS returns the network namespace of the calling thread; the caller
// must have locked it.
func threadNS(t *testing.T) netns.NsHandle {
	t.Helper()
	h, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func ifaceNames(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names
}

func TestDo(t *testing.T) {
	t.Parallel()
	l := New(t, 1)
	n := l.Nodes[0]
	// Locked for the whole test, so every check below sees the same thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig := threadNS(t)
	outside := ifaceNames(t)

	var inside []string
	var inNS bool
	err := n.Do(func() error {
		inside = ifaceNames(t)
		want, err := netns.GetFromName(n.NS)
		if err != nil {
			return err
		}
		defer want.Close()
		inNS = threadNS(t).Equal(want)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !inNS {
		t.Error("fn did not run in the node's namespace")
	}
	if diff := cmp.Diff([]string{"eth0", "lo"}, inside); diff != "" {
		t.Errorf("interfaces inside (-want +got):\n%s", diff)
	}
	if slices.Equal(inside, outside) {
		t.Errorf("interfaces outside %v equal those inside", outside)
	}
	if !threadNS(t).Equal(orig) {
		t.Fatal("Do did not restore the thread's namespace")
	}

	errFn := errors.New("from fn")
	if err := n.Do(func() error { return errFn }); !errors.Is(err, errFn) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = n.Do(func() error { panic("in fn") })
	}()
	if !threadNS(t).Equal(orig) {
		t.Fatal("Do did not restore the thread's namespace after a panic")
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	l := New(t, 1)
	n := l.Nodes[0]
	out, err := n.Run(t.Context(), "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad")
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("accept_dad on eth0: %q, %v; want 0", out, err)
	}
	out, err = l.Switch.Run(t.Context(), "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6")
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("disable_ipv6 on the switch: %q, %v; want 1", out, err)
	}

	_, err = n.Run(t.Context(), "sh", "-c", "echo oops; exit 3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing command: %v, want exit status 3 and its output", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := n.Run(ctx, "sleep", "10"); err == nil {
		t.Error("Run outlived its context")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Run took %v after a 200ms context", took)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func waitOutput(t *testing.T, p *Proc, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := WaitFor(ctx, 10*time.Millisecond, func() bool { return strings.Contains(p.Output(), want) }); err != nil {
		t.Fatalf("waiting for %q in the log of PID %d: %v; log: %q", want, p.PID, err, p.Output())
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	l := New(t, 1)
	n := l.Nodes[0]

	p := n.Start(t, "sh", "-c", "echo hello; exec sleep 60")
	waitOutput(t, p, "hello")
	want, err := netns.GetFromName(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := netns.GetFromPid(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if !got.Equal(want) {
		t.Errorf("PID %d runs in %v, want %v", p.PID, got, want)
	}
	err = p.Stop(syscall.SIGTERM, 2*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("Stop: %v, want death by SIGTERM", err)
	}
	if alive(p.PID) {
		t.Errorf("PID %d still alive after Stop", p.PID)
	}

	stubborn := n.Start(t, "sh", "-c", `trap "" TERM; echo ready; exec sleep 60`)
	waitOutput(t, stubborn, "ready")
	if err := stubborn.Stop(syscall.SIGTERM, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a process ignoring SIGTERM: %v, want it killed", err)
	}
	select {
	case <-stubborn.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if alive(stubborn.PID) {
		t.Errorf("PID %d still alive after Stop", stubborn.PID)
	}
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	var prefix string
	var pids []int
	ok := t.Run("lab", func(t *testing.T) {
		l := New(t, 2)
		prefix = l.Prefix
		pids = append(pids, l.Nodes[0].Start(t, "sleep", "60").PID)
		// A grandchild the lab does not know about: cleanup must find it
		// in the namespace.
		p := l.Nodes[1].Start(t, "sh", "-c", "sleep 60 & echo child $!; wait")
		waitOutput(t, p, "child ")
		f := strings.Fields(p.Output())
		child, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p.PID, child)
	})
	if prefix == "" {
		if ok {
			t.Skip("the lab was skipped")
		}
		return // the subtest has failed already
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), prefix) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = WaitFor(ctx, 20*time.Millisecond, func() bool {
		return !slices.ContainsFunc(pids, alive)
	})
	if err != nil {
		t.Errorf("processes left behind among %v: %v", pids, err)
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	if err := WaitFor(context.Background(), time.Millisecond, func() bool { return true }); err == nil {
		t.Error("WaitFor accepted a context without a deadline")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	calls := 0
	if err := WaitFor(ctx, 10*time.Millisecond, func() bool { calls++; return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor: %v, want the deadline", err)
	}
	if calls < 2 || calls > 10 {
		t.Errorf("cond called %d times in 50ms at 10ms intervals", calls)
	}
	ctx2, cancel2 := context.WithTimeout(t.Context(), time.Second)
	defer cancel2()
	calls = 0
	if err := WaitFor(ctx2, time.Millisecond, func() bool { calls++; return calls == 3 }); err != nil || calls != 3 {
		t.Errorf("WaitFor: %v after %d calls, want nil after 3", err, calls)
	}
}

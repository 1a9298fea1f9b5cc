//go:build linux

package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/mqttstream"
)

const (
	// probeEvery is the client's ARP probe period; each probe waits as
	// long for its answer.
	probeEvery = 10 * time.Millisecond
	// takeoverLimit bounds the wait for the backup after a fault.
	takeoverLimit = 10 * time.Second
	// settleAfter is how long probing goes on after the takeover, to see
	// the VIP flap back.
	settleAfter = time.Second
	// Client settings, the same for every system.
	clientRetry       = 100 * time.Millisecond
	clientDialTimeout = 500 * time.Millisecond
)

// fault is a way for the master to go.
type fault struct {
	name   string
	inject func(t *testing.T, n *node)
}

func faults() []fault {
	return []fault{
		// The link goes first, so nothing the dying node sends after
		// that reaches the segment, as when it loses power.
		{"node death", func(t *testing.T, n *node) {
			n.n.LinkDown()
			if err := n.daemon.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killNamespace(t, n.n)
		}},
		{"planned handover", func(t *testing.T, n *node) {
			if err := n.daemon.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}},
		// Only the master's broker dies; whatever supervises it (carpd;
		// nothing in the classic scripts) decides what follows.
		{"broker crash", func(t *testing.T, n *node) {
			pid := n.brokerPID()
			if pid <= 1 {
				t.Fatalf("no broker PID on %s", n.n.Name)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// killNamespace sends SIGKILL to every process in n's namespace: the
// harness made it, so all of them are the dead master's (broker, hooks).
func killNamespace(t *testing.T, n *lab.Node) {
	t.Helper()
	for _, pid := range namespacePIDs(t, n) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func namespacePIDs(t *testing.T, n *lab.Node) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", n.NS).Output()
	if err != nil {
		t.Fatalf("listing processes in %s: %v", n.NS, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startPair builds a lab and starts sys on n1 (preferred) then n2, and
// returns once n1 answers ARP for the VIP and n2 has stayed backup. With
// preempt, CARP nodes preempt (VRRP ones always do).
func startPair(t *testing.T, sys system, preempt bool) (*lab.Lab, [2]*node) {
	t.Helper()
	l := lab.New(t, 2, lab.WithoutIPv6())
	vip := netip.MustParseAddr(benchVIP)
	a := sys.start(t, l, l.Nodes[0], role{master: true, preempt: preempt})
	lab.Wait(t, 15*time.Second, "n1 answering ARP for the VIP", func() bool {
		mac, err := l.ARPOwner(vip, 100*time.Millisecond)
		return err == nil && mac.String() == l.Nodes[0].MAC.String()
	})
	b := sys.start(t, l, l.Nodes[1], role{preempt: preempt})
	// Long enough for n2 to hear n1's adverts and to have become master
	// by mistake if it did not; well short of n2's master-down interval.
	time.Sleep(max(time.Second, sys.interval+500*time.Millisecond))
	if b.masterEntries() != 0 {
		t.Fatalf("n2 became master before the fault")
	}
	return l, [2]*node{a, b}
}

// startStream connects the QoS 1 publisher and subscriber to the VIP from
// the client namespace and waits until messages flow.
func startStream(t *testing.T, l *lab.Lab) *mqttstream.Stream {
	t.Helper()
	c := l.Client
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, clientDialTimeout)
		defer cancel()
		var conn net.Conn
		err := c.Do(func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return conn, err
	}
	s, err := mqttstream.Start(mqttstream.Config{
		Addr: fmt.Sprintf("%s:%d", benchVIP, mqttPort), Keepalive: time.Second, PingTimeout: time.Second,
		Retry: clientRetry, ClientID: "bench", Dial: dial,
	}, 15*time.Second)
	if err != nil {
		t.Fatalf("starting the MQTT stream: %v", err)
	}
	t.Cleanup(func() { s.Stop(0) })
	lab.Wait(t, 10*time.Second, "the stream flowing", func() bool { return s.Received() >= 50 })
	return s
}

// runTrial runs one fault on a fresh pair of sys; measure, if not nil,
// first watches the settled pair before the clients connect.
func runTrial(t *testing.T, sys system, f fault, measure func(*testing.T, [2]*node)) Trial {
	l, nodes := startPair(t, sys, false)
	if measure != nil {
		measure(t, nodes)
	}
	s := startStream(t, l)
	// The harness's own timing would put every fault at about the same
	// point of the master's advertisement cycle, and that point differs
	// between systems; a random wait spreads it over the cycle, so a
	// takeover median is that of a fault at any moment.
	time.Sleep(rand.N(sys.interval))
	r := Trial{System: sys.name, Timer: sys.timer, Scenario: f.name, TakeoverMS: -1, OutageMS: -1}
	before := nodes[1].masterEntries()
	start := time.Now()
	f.inject(t, nodes[0])
	// After a broker crash the VIP need not move at all.
	limit, resume := takeoverLimit, 15*time.Second
	if f.name == "broker crash" {
		limit, resume = 5*time.Second, 6*time.Second
	}
	w, err := l.WatchTakeover(netip.MustParseAddr(benchVIP), l.Nodes[1].MAC, start, limit, probeEvery, settleAfter)
	if err != nil {
		t.Fatalf("probing ARP: %v", err)
	}
	if w.Took > 0 {
		r.TakeoverMS = ms(w.Took)
	} else if f.name != "broker crash" {
		r.Error = fmt.Sprintf("no ARP answer from n2 within %v; answers %v", limit, w.Owners)
	}
	r.Flaps = w.Flaps()
	ctx, cancel := context.WithTimeout(context.Background(), resume)
	defer cancel()
	resumed := s.WaitResumed(ctx)
	res := s.Stop(time.Second)
	r.Entries = nodes[1].masterEntries() - before
	r.Sent, r.Lost, r.Dups = res.Sent, res.Lost, res.Dups
	if resumed == nil {
		r.OutageMS = ms(res.Gap)
	} else if r.Error == "" {
		r.Error = fmt.Sprintf("stream did not resume within %v of the takeover watch", resume)
	}
	logEvents(t, s, start)
	if !res.GapEnd.IsZero() {
		t.Logf("  longest gap: +%.0f ms to +%.0f ms", ms(res.GapEnd.Add(-res.Gap).Sub(start)), ms(res.GapEnd.Sub(start)))
	}
	t.Logf("%s %s %s: takeover %.0f ms, outage %.0f ms, sent %d lost %d dups %d, entries %d flaps %d %s",
		sys.name, sys.timer, f.name, r.TakeoverMS, r.OutageMS, r.Sent, r.Lost, r.Dups, r.Entries, r.Flaps, r.Error)
	return r
}

// logEvents writes the clients' connection events relative to the fault
// into the full log: where an outage exceeds the takeover, they show
// which client waited for what.
func logEvents(t *testing.T, s *mqttstream.Stream, fault time.Time) {
	for _, e := range s.Events() {
		if e.At.After(fault) {
			t.Logf("  +%.0f ms %v", ms(e.At.Sub(fault)), e)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

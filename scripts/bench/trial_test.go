//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/mqttstream"
	"github.com/mdlayher/arp"
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
// returns once n1 answers ARP for the VIP and n2 has stayed backup.
func startPair(t *testing.T, sys system) (*lab.Lab, [2]*node) {
	t.Helper()
	l := lab.New(t, 2, lab.WithoutIPv6())
	vip := netip.MustParseAddr(benchVIP)
	a := sys.start(t, l, l.Nodes[0], true)
	waitFor(t, 15*time.Second, "n1 answering ARP for the VIP", func() bool {
		mac, err := arpOwnerWithin(l, vip, 100*time.Millisecond)
		return err == nil && mac.String() == l.Nodes[0].MAC.String()
	})
	b := sys.start(t, l, l.Nodes[1], false)
	time.Sleep(max(1500*time.Millisecond, 2*sys.interval))
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
	waitFor(t, 10*time.Second, "the stream flowing", func() bool { return s.Received() >= 50 })
	return s
}

// runTrial runs one fault on a fresh pair of sys.
func runTrial(t *testing.T, sys system, f fault) Trial {
	l, nodes := startPair(t, sys)
	s := startStream(t, l)
	r := Trial{System: sys.name, Timer: sys.timer, Scenario: f.name, TakeoverMS: -1, OutageMS: -1}
	before := nodes[1].masterEntries()
	start := time.Now()
	f.inject(t, nodes[0])
	// After a broker crash the VIP need not move at all.
	limit, resume := takeoverLimit, 15*time.Second
	if f.name == "broker crash" {
		limit, resume = 5*time.Second, 6*time.Second
	}
	w, err := watchTakeover(l, netip.MustParseAddr(benchVIP), l.Nodes[1].MAC, start, limit)
	if err != nil {
		t.Fatalf("probing ARP: %v", err)
	}
	if w.took > 0 {
		r.TakeoverMS = ms(w.took)
	} else if f.name != "broker crash" {
		r.Error = fmt.Sprintf("no ARP answer from n2 within %v; answers %v", limit, w.owners)
	}
	r.Flaps = w.flapsAfterTakeover()
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
	t.Logf("%s %s %s: takeover %.0f ms, outage %.0f ms, sent %d lost %d dups %d, entries %d flaps %d %s",
		sys.name, sys.timer, f.name, r.TakeoverMS, r.OutageMS, r.Sent, r.Lost, r.Dups, r.Entries, r.Flaps, r.Error)
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// watch is what the client's probes saw after a fault.
type watch struct {
	took time.Duration
	// owners are the MACs that answered, listed again only when they
	// change; newAt indexes the new master's first answer.
	owners []string
	newAt  int
}

func (w watch) flapsAfterTakeover() int {
	if w.took == 0 {
		return 0
	}
	return len(w.owners) - 1 - w.newAt
}

// watchTakeover probes vip from the client every probeEvery until want
// answers and settleAfter more, or limit after start.
func watchTakeover(l *lab.Lab, vip netip.Addr, want net.HardwareAddr, start time.Time, limit time.Duration) (watch, error) {
	var w watch
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	end := start.Add(limit)
	for time.Now().Before(end) {
		mac, err := arpOwnerWithin(l, vip, probeEvery)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			return w, err
		default:
			if len(w.owners) == 0 || w.owners[len(w.owners)-1] != mac.String() {
				w.owners = append(w.owners, mac.String())
			}
			if w.took == 0 && mac.String() == want.String() {
				w.took = time.Since(start)
				w.newAt = len(w.owners) - 1
				end = time.Now().Add(settleAfter)
			}
		}
		<-tick.C
	}
	return w, nil
}

// arpOwnerWithin resolves vip from the lab's client and returns the MAC
// that answered within wait.
func arpOwnerWithin(l *lab.Lab, vip netip.Addr, wait time.Duration) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		mac, err = c.Resolve(vip)
		return err
	})
	return mac, err
}

// waitFor polls cond every 20 ms for at most timeout and fails t if it
// never holds.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := lab.WaitFor(ctx, 20*time.Millisecond, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

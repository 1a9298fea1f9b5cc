//go:build linux

package mosquitto

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/testutil"
	"github.com/carpd/carpd/supervisor"
)

// TestHeartbeatOneBroker runs two nodes' probes against one broker: each
// publishes its heartbeat on the "peer" broker and reads the other's on
// its "local" one, never its own; also when n1 knows n2 by another name
// than n2 gives itself (a probe.peer on a second path: n2 names itself by
// its broker's addr).
func TestHeartbeatOneBroker(t *testing.T) {
	for _, alias := range []string{"n2", "n2-second-path"} {
		t.Run(alias, func(t *testing.T) { heartbeatOneBroker(t, alias) })
	}
}

// readyBroker starts a supervised broker on a free address, checks the
// test's goroutines, and waits until the broker is ready.
func readyBroker(t *testing.T) (*supervisor.Child, string, *slog.Logger) {
	t.Helper()
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	log := slog.New(slog.NewTextHandler(&lockedBuffer{t: t}, nil))
	addr := testutil.FreeAddr(t)
	child, ev := startBroker(t, addr, log)
	ev.wait(t, supervisor.EventReady, 10*time.Second)
	return child, addr, log
}

func heartbeatOneBroker(t *testing.T, alias string) {
	_, addr, log := readyBroker(t)

	var mu sync.Mutex
	got := map[string][]string{}
	probe := func(node, peer string) *Probe {
		p, err := NewProbe(ProbeConfig{
			Node: node, PeerNode: peer, Local: testBroker(addr), Peer: testBroker(addr),
			Prefix: "home/carpd-probe", Interval: 300 * time.Millisecond, Deadline: 200 * time.Millisecond,
			Logger: log, HeartbeatTopic: "carpd-heartbeat",
			OnHeartbeat: func(payload []byte, _ time.Time) {
				mu.Lock()
				got[node] = append(got[node], string(payload))
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1, p2 := probe("n1", alias), probe("n2", "n1")
	if err := p1.PublishHeartbeat([]byte("early")); err == nil {
		t.Error("PublishHeartbeat before the probe connected reported no error")
	}
	runProbe(t, p1)
	runProbe(t, p2)
	waitPaths(t, p1, PathOK, 5*time.Second)
	waitPaths(t, p2, PathOK, 5*time.Second)
	// Published until received: a QoS 0 message sent before the other
	// side's subscription is complete is lost, as it should be. n1 sends
	// first alone, so that n1 receiving anything before n2 sends would
	// be its own heartbeat.
	sendUntilHeard := func(from *Probe, name, to string) {
		waitCond(t, 5*time.Second, to+" receiving "+name+"'s heartbeat", func() bool {
			if err := from.PublishHeartbeat([]byte("from " + name)); err != nil {
				t.Fatalf("PublishHeartbeat: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			return len(got[to]) > 0
		})
	}
	sendUntilHeard(p1, "n1", "n2")
	mu.Lock()
	if len(got["n1"]) != 0 {
		t.Errorf("n1 received its own heartbeat: %q", got["n1"])
	}
	mu.Unlock()
	sendUntilHeard(p2, "n2", "n1")
	mu.Lock()
	defer mu.Unlock()
	for node, want := range map[string]string{"n1": "from n2", "n2": "from n1"} {
		for _, p := range got[node] {
			if p != want {
				t.Errorf("%s received %q, want only %q", node, p, want)
			}
		}
	}
}

// TestHeartbeatRedialAfterRestart: a broker restart (on_promote: restart
// at every failover) closes both of the probe's connections; with the
// heartbeat on they are replaced at once, without a heartbeat to ask for
// it (a settled pair publishes one a second) and long before the next
// probe round.
func TestHeartbeatRedialAfterRestart(t *testing.T) {
	child, addr, log := readyBroker(t)
	const interval = 5 * time.Second
	p, err := NewProbe(ProbeConfig{
		Node: "n1", PeerNode: "n2", Local: testBroker(addr), Peer: testBroker(addr),
		Prefix: "home/carpd-probe", Interval: interval, Deadline: time.Second,
		Logger: log, HeartbeatTopic: "carpd-heartbeat", OnHeartbeat: func([]byte, time.Time) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	runProbe(t, p)
	waitPaths(t, p, PathOK, 5*time.Second)
	local, peer := p.hbLocal.Load(), p.hbPeer.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	res, err := child.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitCond(t, interval/2, "both connections replaced", func() bool {
		l, pe := p.hbLocal.Load(), p.hbPeer.Load()
		return l != local && pe != peer && l.alive() && pe.alive()
	})
	t.Logf("connections replaced %v after the restart began (broker ready after %v); next round %v after",
		time.Since(start).Round(time.Millisecond), res.Total.Round(time.Millisecond), interval)
}

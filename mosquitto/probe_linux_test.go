//go:build linux

package mosquitto

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/testutil"
	"github.com/carpd/carpd/supervisor"
)

// runProbe runs p until the test ends.
func runProbe(t *testing.T, p *Probe) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("probe Run did not return within 10 s of cancel")
		}
	})
}

// waitPaths waits until every path is in state want and returns how long
// that took.
func waitPaths(t *testing.T, p *Probe, want PathState, d time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	waitCond(t, d, "paths "+want.String(), func() bool {
		for _, ps := range p.Status().Paths {
			if ps.State != want {
				return false
			}
		}
		return true
	})
	return time.Since(t0)
}

// TestProbeOneBroker runs the probe against a single broker standing in for
// both sides (a "bridge" that is a loop-back), so that the probe's own logic
// (state changes, log-once, restart policy) is tested without root; the real
// bridge is in TestProbeLab.
func TestProbeOneBroker(t *testing.T) {
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	logs := &lockedBuffer{t: t}
	log := slog.New(slog.NewTextHandler(logs, nil))
	addr := testutil.FreeAddr(t)
	c, ev := startBroker(t, addr, log)
	ev.wait(t, supervisor.EventReady, 10*time.Second)

	var restarts atomic.Int32
	const interval = 300 * time.Millisecond
	p, err := NewProbe(ProbeConfig{
		Node: "n1", PeerNode: "n2",
		Local: testBroker(addr), Peer: testBroker(addr),
		Prefix:       "home/carpd-probe",
		Interval:     interval,
		Deadline:     200 * time.Millisecond,
		BrokenAfter:  2,
		RestartAfter: 3,
		Restart:      func(context.Context) error { restarts.Add(1); return nil },
		Logger:       log,
	})
	if err != nil {
		t.Fatal(err)
	}
	runProbe(t, p)
	waitPaths(t, p, PathOK, 5*time.Second)
	for _, ps := range p.Status().Paths {
		t.Logf("%v: RTT %v", ps.Direction, ps.RTT)
	}

	pid := c.State().PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	took := waitPaths(t, p, PathBroken, 3*interval+500*time.Millisecond)
	t.Logf("broken after %v", took)
	waitCond(t, 3*time.Second, "a restart call", func() bool { return restarts.Load() > 0 })
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	took = waitPaths(t, p, PathOK, 3*interval+2*time.Second)
	t.Logf("restored after %v", took)

	// The probe publishes the new state under its lock and logs after it,
	// so the log lines may trail what Status reports by a moment.
	want := map[string]int{
		`msg="replication broken"`: 2, `msg="replication restored"`: 2, `msg="replication ok"`: 2,
	}
	counted := func() bool {
		out := logs.String()
		for msg, n := range want {
			if strings.Count(out, msg) < n {
				return false
			}
		}
		return true
	}
	waitCond(t, 2*time.Second, "the state changes logged", counted)
	out := logs.String()
	for msg, n := range want {
		if got := strings.Count(out, msg); got != n {
			t.Errorf("%s logged %d times, want %d (once per direction)", msg, got, n)
		}
	}
	if restarts.Load() > 2 {
		t.Errorf("Restart called %d times", restarts.Load())
	}
}

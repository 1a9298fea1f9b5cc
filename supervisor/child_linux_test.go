//go:build linux

package supervisor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// events collects a Child's events for a test.
type events struct {
	mu  sync.Mutex
	evs []Event
	ch  chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 100)} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	select {
	case e.ch <- ev:
	default:
	}
}

// wait returns the next event of kind k, failing t after d.
func (e *events) wait(t *testing.T, k EventKind, d time.Duration) Event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == k {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event within %v", k, d)
		}
	}
}

func (e *events) kinds() []EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ks []EventKind
	for _, ev := range e.evs {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// helperConfig returns a Config running the test binary as a fake broker.
func helperConfig(t *testing.T, mode string, env ...string) (Config, *events) {
	ev := newEvents()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Name:          "fake",
		Command:       []string{exe, "-test.run=^$", "-fake=" + mode},
		Env:           append(append(os.Environ(), helperEnv+"="+mode), env...),
		ReadyTimeout:  5 * time.Second,
		ReadyInterval: 10 * time.Millisecond,
		StopTimeout:   2 * time.Second,
		BackoffBase:   20 * time.Millisecond,
		BackoffCap:    80 * time.Millisecond,
		StateDir:      t.TempDir(),
		OnEvent:       ev.add,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}, ev
}

// testWriter sends log output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// runChild runs c until the returned stop function is called; stop returns
// Run's error.
func runChild(t *testing.T, c *Child) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return within 15 s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// groupMembers lists the processes in process group pgid that still run
// (zombies excluded).
func groupMembers(pgid int) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After "comm)": state ppid pgrp ...
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g == pgid {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkGone fails t if pid or any member of its group still exists (a
// zombie of pid counts: nobody would reap it).
func checkGone(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		t.Errorf("PID %d still exists (running or zombie)", pid)
	}
	if m := groupMembers(pid); len(m) > 0 {
		t.Errorf("process group %d still has members %v", pid, m)
	}
}

func TestChildStartReadyStop(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := testutil.FreeAddr(t)
	cfg, ev := helperConfig(t, "serve", "HELPER_ADDR="+addr)
	cfg.Addr = addr
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runChild(t, c)
	started := ev.wait(t, EventStarted, 5*time.Second)
	ready := ev.wait(t, EventReady, 5*time.Second)
	t.Logf("time to ready: %v", ready.Took)
	st := c.State()
	if st.Phase != Running || !st.Ready || st.PID != started.PID || st.TimeToReady != ready.Took {
		t.Errorf("State() = %+v, want running, ready, PID %d", st, started.PID)
	}
	pidFile := filepath.Join(cfg.StateDir, "fake.pid")
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(started.PID) {
		t.Errorf("pid file = %q, %v; want %d", b, err, started.PID)
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
	checkGone(t, started.PID)
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file still there after stop: %v", err)
	}
	st = c.State()
	if diff := cmp.Diff(ExitStatus{Code: 0}, st.LastExit, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".At"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("LastExit (-want +got):\n%s", diff)
	}
	if st.Phase != Stopped || st.Restarts != 0 {
		t.Errorf("after stop: phase %v restarts %d, want stopped, 0", st.Phase, st.Restarts)
	}
	if got := strings.Join(st.LastLines, "\n"); !strings.Contains(got, "terminating") {
		t.Errorf("LastLines %q lack the child's own \"terminating\"", got)
	}
}

func TestChildCrashBackoff(t *testing.T) {
	testutil.CheckGoroutines(t)
	cfg, ev := helperConfig(t, "crash")
	cfg.Addr = testutil.FreeAddr(t)
	cfg.CrashLoopAfter = 3
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runChild(t, c)
	var exits []Event
	for range 5 {
		exits = append(exits, ev.wait(t, EventExited, 5*time.Second))
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	for i, e := range exits {
		// Failure n waits base·2^(n-1), capped, with half of it jitter.
		full := min(cfg.BackoffBase<<i, cfg.BackoffCap)
		if e.Backoff < full/2 || e.Backoff > full {
			t.Errorf("exit %d: back-off %v, want in [%v, %v]", i+1, e.Backoff, full/2, full)
		}
		if e.Exit.Code != 1 {
			t.Errorf("exit %d: %v, want exit status 1", i+1, e.Exit)
		}
		if e.Err == nil || !strings.Contains(e.Err.Error(), "Error: boom, cannot bind") ||
			!strings.Contains(e.Err.Error(), "before ready") {
			t.Errorf("exit %d: error %v lacks the child's last line", i+1, e.Err)
		}
	}
	var loops int
	for _, k := range ev.kinds() {
		if k == EventCrashLoop {
			loops++
		}
	}
	if loops != 1 {
		t.Errorf("%d crash-loop events, want 1: %v", loops, ev.kinds())
	}
	st := c.State()
	if !st.CrashLoop || st.Restarts < 5 || st.Failures < 5 || st.LastExit.Code != 1 ||
		!strings.Contains(st.LastErr, "Error: boom") {
		t.Errorf("State() = %+v, want a crash loop with ≥5 restarts, exit 1 and the child's error", st)
	}
}

func TestChildCrashLoopOver(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := testutil.FreeAddr(t)
	cfg, ev := helperConfig(t, "crash-first", "HELPER_ADDR="+addr,
		"HELPER_COUNTER="+filepath.Join(t.TempDir(), "count"))
	cfg.Addr = addr
	cfg.CrashLoopAfter = 2
	cfg.StableAfter = 200 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runChild(t, c)
	ev.wait(t, EventCrashLoopOver, 10*time.Second)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	want := []EventKind{
		EventStarted, EventExited, EventStarted, EventExited, EventCrashLoop,
		EventStarted, EventReady, EventCrashLoopOver,
	}
	if diff := cmp.Diff(want, ev.kinds()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st := c.State(); st.CrashLoop || st.Failures != 0 || st.Restarts != 2 {
		t.Errorf("State() = %+v, want no crash loop, 0 failures, 2 restarts", st)
	}
}

func TestChildStopEscalates(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := testutil.FreeAddr(t)
	cfg, ev := helperConfig(t, "ignore-term", "HELPER_ADDR="+addr, "HELPER_GRANDCHILD=1")
	cfg.Addr = addr
	cfg.StopTimeout = 300 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runChild(t, c)
	started := ev.wait(t, EventStarted, 5*time.Second)
	ev.wait(t, EventReady, 5*time.Second)
	if m := groupMembers(started.PID); len(m) != 2 {
		t.Errorf("group %d has members %v, want the child and its child", started.PID, m)
	}
	t0 := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	took := time.Since(t0)
	if took < cfg.StopTimeout {
		t.Errorf("stopped after %v, before the %v grace", took, cfg.StopTimeout)
	}
	if got := c.State().LastExit.Signal; got != syscall.SIGKILL {
		t.Errorf("ended by %v, want SIGKILL", got)
	}
	checkGone(t, started.PID)
}

func TestChildLeftover(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := testutil.FreeAddr(t)
	cfg, ev := helperConfig(t, "serve", "HELPER_ADDR="+addr)
	cfg.Addr = addr
	// A child from an "earlier run": same command line, own group, its
	// PID in the pid file, holding the port.
	old := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	old.Env = cfg.Env
	old.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	oldDone := make(chan error, 1)
	go func() { oldDone <- old.Wait() }()
	t.Cleanup(func() { _ = old.Process.Kill() })
	// Wait until it serves, so its SIGTERM handler is in place.
	if _, err := pollReady(context.Background(), tcpReady(addr), time.Now(),
		10*time.Millisecond, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "fake.pid"),
		[]byte(strconv.Itoa(old.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runChild(t, c)
	adopted := ev.wait(t, EventAdopted, 5*time.Second)
	if adopted.PID != old.Process.Pid {
		t.Errorf("adopted PID %d, want %d", adopted.PID, old.Process.Pid)
	}
	select {
	case err := <-oldDone:
		if err != nil {
			t.Errorf("leftover ended with %v, want a clean SIGTERM exit", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leftover still running")
	}
	ev.wait(t, EventReady, 5*time.Second)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestChildLeftoverOtherCommand(t *testing.T) {
	cfg, _ := helperConfig(t, "serve")
	// The PID is ours, and its command line is not the child's.
	pf := pidFile{path: filepath.Join(cfg.StateDir, "fake.pid"), argv: cfg.Command}
	if err := pf.write(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	pid, err := pf.leftover()
	if err != nil || pid != 0 {
		t.Errorf("leftover() = %d, %v; want 0, nil for a reused PID", pid, err)
	}
}

func TestChildRestart(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := testutil.FreeAddr(t)
	cfg, ev := helperConfig(t, "serve", "HELPER_ADDR="+addr)
	cfg.Addr = addr
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restart(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Restart before Run: %v, want ErrNotRunning", err)
	}
	stop := runChild(t, c)
	first := ev.wait(t, EventStarted, 5*time.Second)
	ev.wait(t, EventReady, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: stop %v, ready %v, total %v", res.Stop, res.Ready, res.Total)
	if res.Ready <= 0 || res.Total < res.Stop+res.Ready {
		t.Errorf("Restart timings %+v inconsistent", res)
	}
	second := ev.wait(t, EventStarted, time.Second)
	checkGone(t, first.PID)
	st := c.State()
	if st.PID != second.PID || st.PID == first.PID || !st.Ready || st.Restarts != 0 {
		t.Errorf("State() = %+v, want ready new PID %d, no crash restarts", st, second.PID)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	checkGone(t, second.PID)
}

func TestChildMissingCommand(t *testing.T) {
	testutil.CheckGoroutines(t)
	c, err := New(Config{Name: "nope", Command: []string{"/nonexistent/carpd-test-broker"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Run(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run = %v, want a not-exist error", err)
	}
}

//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cleanupGrace is how long cleanup waits after SIGTERM before SIGKILL.
const cleanupGrace = 3 * time.Second

// logTail is how much of a process's log cleanup shows when the test failed.
const logTail = 4096

// Proc is a background process started in a node's namespace with Start.
type Proc struct {
	// Cmd is the "ip netns exec" command; ip execs argv in place, so its
	// process is argv's own.
	Cmd *exec.Cmd
	// PID is the process ID of argv.
	PID int
	// Log is the file receiving the process's standard output and error.
	Log string

	node *Node
	done chan struct{}
	err  error // Wait's result, set before done is closed
}

// Start starts argv in the background in the node's namespace, with standard
// output and error going to a log file under t.TempDir() and standard input
// from /dev/null. The process is stopped (SIGTERM, then SIGKILL after 3 s)
// when t's test ends or the lab is removed, whichever comes first, and gets
// SIGKILL if the test binary dies. When t has failed by then, the end of the
// log is written to the test log. Start fails t when the process cannot be
// started.
func (n *Node) Start(t testing.TB, argv ...string) *Proc {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("lab: %s: Start without a command", n.Name)
	}
	f, err := os.CreateTemp(t.TempDir(), n.Name+"-"+filepath.Base(argv[0])+"-*.log")
	if err != nil {
		t.Fatalf("lab: creating log file: %v", err)
	}
	defer f.Close() // the child keeps its own copy
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig survives ip's exec of argv; it fires when the forking thread
	// exits, which is why wait keeps that thread for the child's lifetime.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, Log: f.Name(), node: n, done: make(chan struct{})}
	started := make(chan error, 1)
	go p.wait(started)
	if err := <-started; err != nil {
		t.Fatalf("lab: starting %q in %s: %v", argv, n.Name, err)
	}
	p.PID = cmd.Process.Pid
	n.lab.mu.Lock()
	n.lab.procs = append(n.lab.procs, p)
	n.lab.mu.Unlock()
	t.Cleanup(func() {
		_ = p.Stop(syscall.SIGTERM, cleanupGrace)
		if t.Failed() {
			p.logTail(t)
		}
	})
	return p
}

// wait starts the process and reaps it on one locked OS thread (docs/design.md
// §5.7: Pdeathsig is per thread, so the thread must outlive the child).
func (p *Proc) wait(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := p.Cmd.Start(); err != nil {
		started <- err
		return
	}
	started <- nil
	p.err = p.Cmd.Wait()
	close(p.done)
}

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit or ctx to be done, and returns the
// process's exit error (nil for status 0) or ctx's error.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("lab: waiting for PID %d: %w", p.PID, context.Cause(ctx))
	}
}

// Signal sends sig to the process unless it has already been reaped. Go
// signals through a pidfd, so a recycled PID is never hit.
func (p *Proc) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("lab: signalling PID %d: %w", p.PID, err)
	}
	return nil
}

// Stop sends sig and waits up to grace for the process to exit, then sends
// SIGKILL. It returns the process's exit error (nil for status 0; a process
// that was already gone returns how it ended), or an error saying it had to
// be killed.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) error {
	if err := p.Signal(sig); err != nil {
		return err
	}
	return p.waitOrKill(sig, grace)
}

// waitOrKill waits up to grace for the process to exit after sig, then kills
// it.
func (p *Proc) waitOrKill(sig os.Signal, grace time.Duration) error {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
	}
	p.Kill()
	return fmt.Errorf("lab: PID %d did not exit within %v after %v; killed", p.PID, grace, sig)
}

// Kill sends SIGKILL and waits (bounded) until the process is reaped.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(toolTimeout):
	}
}

// Output returns what the process has written to its log so far.
func (p *Proc) Output() string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.Log, err)
	}
	return string(b)
}

func (p *Proc) logTail(t testing.TB) {
	out := p.Output()
	// A race report comes long before the tail ("Found N data race(s)"
	// is printed at exit); show its first one whole.
	if i := strings.Index(out, "WARNING: DATA RACE"); i >= 0 {
		race := out[i:]
		if j := strings.Index(race, "=================="); j >= 0 {
			race = race[:j]
		}
		t.Logf("lab: %s PID %d race report:\n%s", p.node.Name, p.PID, race)
	}
	if len(out) > logTail {
		out = "..." + out[len(out)-logTail:]
	}
	t.Logf("lab: %s PID %d %q log:\n%s", p.node.Name, p.PID, p.Cmd.Args[3:], out)
}

// stopAll sends SIGTERM to every process at once, so that peers stop in
// parallel, then gives them grace in total before SIGKILL.
func stopAll(procs []*Proc, grace time.Duration) {
	for _, p := range procs {
		_ = p.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, p := range procs {
		_ = p.waitOrKill(syscall.SIGTERM, time.Until(deadline))
	}
}

// killPID sends SIGKILL to a process the lab did not start itself but found
// in one of its namespaces.
func killPID(pid int) error {
	return syscall.Kill(pid, syscall.SIGKILL)
}

// CountLines counts the lines of text that contain every one of subs, as
// the lab tests and the benchmark count a daemon's entries into MASTER in
// its JSON log.
func CountLines(text string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

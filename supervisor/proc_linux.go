//go:build linux

package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readerGrace bounds how long the output readers may run on after the process
// was reaped (a stray holding the pipe open); then the pipes are closed.
const readerGrace = time.Second

// proc is one run of the child's command.
type proc struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time     // when start returned
	done    chan struct{} // closed once the process is reaped and its output read
	exit    ExitStatus    // set before done is closed
	err     error         // Wait's error, set before done is closed
}

// spawn starts the command and returns once it runs. The process is started
// and reaped by one goroutine that stays locked to its OS thread until the
// process is gone: prctl(2), PR_SET_PDEATHSIG fires when the forking thread
// exits, not the process.
func spawn(argv, env []string, dir string, deathsig syscall.Signal, log *slog.Logger, out *tail) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	// Own process group: a terminal's Ctrl-C does not hit the child
	// directly, and Stop can signal the child's own children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathsig}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("creating stderr pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go p.run(started, []*os.File{outW, errW}, []*os.File{outR, errR}, log, out)
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// run is the locked goroutine owning the process.
func (p *proc) run(started chan<- error, writers, readers []*os.File, log *slog.Logger, out *tail) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := p.cmd.Start()
	for _, w := range writers {
		w.Close() // the child has its own copies
	}
	if err != nil {
		for _, r := range readers {
			r.Close()
		}
		started <- fmt.Errorf("starting %s: %w", p.cmd.Path, err)
		return
	}
	p.pid = p.cmd.Process.Pid
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scanLines(r, []string{"stdout", "stderr"}[i], p.pid, log, out)
		}()
	}
	started <- nil

	// Wait without reaping first, so that the group ID cannot be reused
	// while the rest of the group is killed: no orphan outlives the child.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	_ = unix.Kill(-p.pid, unix.SIGKILL)
	p.err = p.cmd.Wait()
	p.exit = exitStatus(p.cmd.ProcessState)

	readersDone := make(chan struct{})
	go func() { wg.Wait(); close(readersDone) }()
	select {
	case <-readersDone:
	case <-time.After(readerGrace):
		for _, r := range readers {
			r.Close()
		}
		<-readersDone
	}
	for _, r := range readers {
		r.Close()
	}
	close(p.done)
}

// scanLines logs each line the child writes and keeps it in out.
func scanLines(r io.Reader, stream string, pid int, log *slog.Logger, out *tail) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	for sc.Scan() {
		line := sc.Text()
		out.add(line)
		log.Info(line, "stream", stream, "pid", pid)
	}
}

// exitStatus converts a reaped process's state.
func exitStatus(ps *os.ProcessState) ExitStatus {
	e := ExitStatus{Code: -1, At: time.Now()}
	if ps == nil {
		return e
	}
	e.Code = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
	}
	return e
}

// signalGroup sends sig to the process's group; the leader is not reaped
// before done is closed, so the group ID still names this group.
func (p *proc) signalGroup(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := unix.Kill(-p.pid, sig); err != nil {
		// The group may be gone already; the leader itself is ours.
		_ = p.cmd.Process.Signal(sig)
	}
}

// killWait bounds the wait for a process to be reaped after SIGKILL; only a
// process stuck in the kernel (uninterruptible sleep) takes longer.
const killWait = 10 * time.Second

// stop sends SIGTERM to the group and SIGKILL after grace, and returns once
// the process is reaped. killed reports the escalation.
func (p *proc) stop(grace time.Duration) (killed bool, err error) {
	p.signalGroup(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return false, nil
	case <-t.C:
	}
	p.signalGroup(syscall.SIGKILL)
	select {
	case <-p.done:
		return true, nil
	case <-time.After(killWait):
		return true, fmt.Errorf("PID %d not gone %v after SIGKILL", p.pid, killWait)
	}
}

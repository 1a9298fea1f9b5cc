//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotRunning is returned by Restart when Run is not running.
var ErrNotRunning = errors.New("child is not supervised (Run not running)")

// Child supervises one command: it starts it, checks readiness, restarts it
// after crashes with back-off, and stops it when Run's context is done. Its
// methods are safe for concurrent use.
type Child struct {
	cfg     Config
	log     *slog.Logger
	pidf    pidFile
	rnd     func() float64
	reqs    chan *restartReq
	running atomic.Bool

	mu  sync.Mutex
	st  Status
	out *tail // output of the latest process
}

// RestartResult times a Restart.
type RestartResult struct {
	// Stop is how long the old process took to exit (0 if none ran).
	Stop time.Duration
	// Ready is the time from starting the new process until it passed
	// its readiness check.
	Ready time.Duration
	// Total is the whole restart as seen by the supervisor.
	Total time.Duration
}

type restartReq struct {
	begun time.Time
	stop  time.Duration
	reply chan restartReply // buffered: the loop never blocks on it
}

type restartReply struct {
	res RestartResult
	err error
}

func (r *restartReq) answer(res RestartResult, err error) {
	if r != nil {
		r.reply <- restartReply{res, err}
	}
}

// New checks cfg and returns a Child that does nothing until Run.
func New(cfg Config) (*Child, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("configuring supervisor: %w", err)
	}
	c := &Child{
		cfg:  cfg,
		log:  cfg.Logger.With("component", cfg.Name),
		pidf: pidFile{argv: cfg.Command},
		rnd:  defaultRand,
		reqs: make(chan *restartReq),
		out:  &tail{max: cfg.TailLines},
	}
	if cfg.StateDir != "" {
		c.pidf.path = filepath.Join(cfg.StateDir, cfg.Name+".pid")
	}
	return c, nil
}

// State returns a snapshot of the child's status.
func (c *Child) State() Status {
	c.mu.Lock()
	st := c.st
	out := c.out
	c.mu.Unlock()
	st.LastLines = out.get()
	if st.PID != 0 {
		st.Uptime = time.Since(st.Started)
	}
	return st
}

// Restart stops the running process (SIGTERM, then SIGKILL after
// StopTimeout), starts a new one at once (also from back-off) and waits for
// it to be ready, or for ctx. It is the "restart on promotion" policy. A
// restart asked for does not count as a crash.
func (c *Child) Restart(ctx context.Context) (RestartResult, error) {
	if !c.running.Load() {
		return RestartResult{}, ErrNotRunning
	}
	req := &restartReq{begun: time.Now(), reply: make(chan restartReply, 1)}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		return RestartResult{}, fmt.Errorf("restarting %s: %w", c.cfg.Name, context.Cause(ctx))
	}
	select {
	case r := <-req.reply:
		if r.err != nil {
			return r.res, fmt.Errorf("restarting %s: %w", c.cfg.Name, r.err)
		}
		return r.res, nil
	case <-ctx.Done():
		return RestartResult{}, fmt.Errorf("restarting %s: %w", c.cfg.Name, context.Cause(ctx))
	}
}

// Run supervises the command until ctx is done, then stops it and returns
// nil. Before the first start it stops a process left behind by an earlier
// run (pid file). It returns an error at once when the command cannot be
// started at all (missing program, no permission) or a leftover cannot be
// stopped; other failures are retried with back-off and show in State.
func (c *Child) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("supervising %s: Run called twice", c.cfg.Name)
	}
	defer c.running.Store(false)
	defer c.setPhase(Stopped)
	if err := c.adopt(); err != nil {
		return err
	}
	var pending *restartReq
	for {
		p, err := c.start()
		if err != nil && fatalStart(err) {
			pending.answer(RestartResult{}, err)
			return fmt.Errorf("supervising %s: %w", c.cfg.Name, err)
		}
		var o outcome
		if err != nil {
			o = outcome{kind: outExit, exit: ExitStatus{Code: -1, At: time.Now()}, cause: err}
		} else {
			o = c.watch(ctx, p, pending)
		}
		pending = nil
		switch o.kind {
		case outCtx:
			return o.cause
		case outRestart:
			pending = o.req
			continue
		}
		delay := c.crashed(o)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case pending = <-c.reqs:
			t.Stop()
		case <-t.C:
		}
	}
}

// fatalStart tells configuration errors, which no retry fixes, from
// transient ones.
func fatalStart(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrPermission)
}

// adopt stops a process that an earlier, killed carpd left running.
func (c *Child) adopt() error {
	pid, err := c.pidf.leftover()
	if err != nil {
		c.log.Warn("ignoring pid file", "err", err)
		c.pidf.remove()
		return nil
	}
	if pid == 0 {
		c.pidf.remove()
		return nil
	}
	c.log.Warn("stopping process left behind by an earlier run", "pid", pid)
	t0 := time.Now()
	if err := stopLeftover(pid, c.cfg.StopTimeout); err != nil {
		return fmt.Errorf("supervising %s: %w", c.cfg.Name, err)
	}
	c.pidf.remove()
	c.log.Info("stopped leftover process", "pid", pid, "took", time.Since(t0))
	c.emit(Event{Kind: EventAdopted, PID: pid})
	return nil
}

// start spawns a new process and records it.
func (c *Child) start() (*proc, error) {
	out := &tail{max: c.cfg.TailLines}
	c.mu.Lock()
	c.out = out
	c.st.Phase = Starting
	c.st.Ready = false
	c.mu.Unlock()
	p, err := spawn(c.cfg.Command, c.cfg.Env, c.cfg.Dir, c.cfg.Deathsig, c.log, out)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	c.mu.Lock()
	c.st.PID, c.st.Started = p.pid, now
	c.mu.Unlock()
	if err := c.pidf.write(p.pid); err != nil {
		c.log.Warn("cannot record PID; a leftover will not be found", "err", err)
	}
	c.log.Info("started", "pid", p.pid, "cmd", strings.Join(c.cfg.Command, " "))
	c.emit(Event{Kind: EventStarted, PID: p.pid})
	p.started = now
	return p, nil
}

func (c *Child) setPhase(ph Phase) {
	c.mu.Lock()
	c.st.Phase = ph
	if ph == Stopped {
		c.st.PID, c.st.Ready, c.st.NextStart = 0, false, time.Time{}
	}
	c.mu.Unlock()
}

func (c *Child) emit(ev Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(ev)
	}
}

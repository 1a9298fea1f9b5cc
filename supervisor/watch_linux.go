//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"strings"
	"time"
)

type outKind uint8

const (
	outExit    outKind = iota // the process ended by itself or failed readiness
	outCtx                    // Run's context is done; the process was stopped
	outRestart                // a restart was asked for; the process was stopped
)

// outcome is how watching one process ended.
type outcome struct {
	kind     outKind
	exit     ExitStatus
	started  time.Time
	wasReady bool
	lines    []string
	cause    error       // why the process ended, for outExit and a failed stop
	req      *restartReq // for outRestart
}

type readyResult struct {
	took time.Duration
	err  error
}

// watch follows one process from start to end. pending, if not nil, is a
// Restart waiting for this process to be ready.
func (c *Child) watch(ctx context.Context, p *proc, pending *restartReq) outcome {
	readyc := make(chan readyResult, 1)
	rctx, rcancel := context.WithCancel(ctx)
	defer func() {
		rcancel()
		if readyc != nil {
			<-readyc
		}
	}()
	if c.cfg.Ready == nil {
		readyc <- readyResult{took: time.Since(p.started)}
	} else {
		go func() {
			took, err := pollReady(rctx, c.cfg.Ready, p.started, c.cfg.ReadyInterval, c.cfg.ReadyTimeout)
			readyc <- readyResult{took, err}
		}()
	}
	stable := time.NewTimer(c.cfg.StableAfter)
	defer stable.Stop()
	ready := false
	for {
		select {
		case r := <-readyc:
			readyc = nil
			if r.err == nil {
				ready = true
				c.becameReady(p, r.took, pending)
				pending = nil
				continue
			}
			err := fmt.Errorf("%s not ready: %w", c.cfg.Name, r.err)
			c.log.Error("not ready; stopping it", "pid", p.pid, "err", err)
			c.emit(Event{Kind: EventNotReady, PID: p.pid, Err: err})
			o := c.stopProc(p, outExit)
			o.cause = err
			pending.answer(RestartResult{}, err)
			return o
		case <-p.done:
			o := c.ended(p, outExit, ready)
			pending.answer(RestartResult{}, o.cause)
			return o
		case <-ctx.Done():
			pending.answer(RestartResult{}, context.Cause(ctx))
			return c.stopProc(p, outCtx)
		case req := <-c.reqs:
			pending.answer(RestartResult{}, fmt.Errorf("superseded by another restart"))
			t0 := time.Now()
			o := c.stopProc(p, outRestart)
			req.stop = time.Since(t0)
			o.req = req
			return o
		case <-stable.C:
			if ready {
				c.stable()
			}
		}
	}
}

// becameReady records readiness and answers a pending Restart.
func (c *Child) becameReady(p *proc, took time.Duration, pending *restartReq) {
	c.mu.Lock()
	c.st.Phase, c.st.Ready, c.st.TimeToReady = Running, true, took
	c.mu.Unlock()
	c.log.Info("ready", "pid", p.pid, "took", took)
	c.emit(Event{Kind: EventReady, PID: p.pid, Took: took})
	if pending != nil {
		pending.answer(RestartResult{Stop: pending.stop, Ready: took, Total: time.Since(pending.begun)}, nil)
	}
}

// stable ends a run of crashes once a process has stayed up long enough.
func (c *Child) stable() {
	c.mu.Lock()
	wasLoop := c.st.CrashLoop
	c.st.Failures, c.st.CrashLoop = 0, false
	c.mu.Unlock()
	if wasLoop {
		c.log.Info("crash loop over", "stable_for", c.cfg.StableAfter)
		c.emit(Event{Kind: EventCrashLoopOver})
	}
}

// stopProc stops p on the supervisor's initiative.
func (c *Child) stopProc(p *proc, kind outKind) outcome {
	t0 := time.Now()
	killed, err := p.stop(c.cfg.StopTimeout)
	o := c.ended(p, kind, false)
	o.cause = err
	if killed {
		c.log.Warn("did not exit after SIGTERM; killed", "pid", p.pid, "grace", c.cfg.StopTimeout)
	}
	c.log.Info("stopped", "pid", p.pid, "exit", p.exit.String(), "took", time.Since(t0))
	return o
}

// ended records that p has been reaped.
func (c *Child) ended(p *proc, kind outKind, wasReady bool) outcome {
	c.pidf.remove()
	c.mu.Lock()
	c.st.PID, c.st.Ready, c.st.LastExit = 0, false, p.exit
	c.mu.Unlock()
	o := outcome{kind: kind, exit: p.exit, started: p.started, wasReady: wasReady, lines: c.out.get()}
	if kind == outExit {
		o.cause = exitError(c.cfg.Name, o)
	}
	return o
}

// exitError describes an unrequested exit; one before readiness carries the
// last output lines, which name the cause (mosquitto: "Error: Address
// already in use").
func exitError(name string, o outcome) error {
	up := o.exit.At.Sub(o.started).Round(time.Millisecond)
	if o.wasReady {
		return fmt.Errorf("%s exited (%v) after %v", name, o.exit, up)
	}
	last := o.lines
	if len(last) > 5 {
		last = last[len(last)-5:]
	}
	return fmt.Errorf("%s exited (%v) %v after start, before ready; last output: %s",
		name, o.exit, up, strings.Join(last, " | "))
}

// crashed books an unrequested end and returns the delay before the next
// start.
func (c *Child) crashed(o outcome) time.Duration {
	c.mu.Lock()
	c.st.Failures++
	c.st.Restarts++
	n := c.st.Failures
	delay := backoff(c.cfg.BackoffBase, c.cfg.BackoffCap, n, c.rnd)
	newLoop := n >= c.cfg.CrashLoopAfter && !c.st.CrashLoop
	c.st.CrashLoop = c.st.CrashLoop || newLoop
	c.st.Phase, c.st.NextStart, c.st.LastErr = Backoff, time.Now().Add(delay), o.cause.Error()
	if o.exit.At.IsZero() {
		o.exit.At = time.Now()
	}
	c.mu.Unlock()
	c.log.Error("exited; restarting after back-off", "err", o.cause, "failures", n, "backoff", delay)
	c.emit(Event{Kind: EventExited, Exit: o.exit, Backoff: delay, Err: o.cause, Lines: o.lines})
	if newLoop {
		c.log.Error("crash loop", "failures", n)
		c.emit(Event{Kind: EventCrashLoop})
	}
	return delay
}

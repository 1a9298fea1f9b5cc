package supervisor

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"
)

// Phase is where a Child is in its life cycle.
type Phase uint8

// Phases of a Child.
const (
	// Stopped: no process, and none will be started (before Run, after Run).
	Stopped Phase = iota
	// Starting: the process runs but has not passed its readiness check.
	Starting
	// Running: the process passed its readiness check.
	Running
	// Backoff: the process exited and a restart is scheduled.
	Backoff
)

func (p Phase) String() string {
	switch p {
	case Stopped:
		return "stopped"
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Backoff:
		return "backoff"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// ExitStatus says how a process ended.
type ExitStatus struct {
	// Code is the exit status, or -1 when a signal ended the process.
	Code int
	// Signal is the signal that ended the process, 0 otherwise.
	Signal syscall.Signal
	// At is when the exit was seen.
	At time.Time
}

func (e ExitStatus) String() string {
	if e.Signal != 0 {
		return "signal " + e.Signal.String()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// Status is a snapshot of a Child, for status output and health decisions.
type Status struct {
	Phase Phase
	// PID is the current process, 0 when none runs.
	PID int
	// Ready reports whether the current process passed its readiness check.
	Ready bool
	// Started is when the current process was started.
	Started time.Time
	// Uptime is how long the current process has been running.
	Uptime time.Duration
	// TimeToReady is how long the last successful readiness check took
	// from the start of the process.
	TimeToReady time.Duration
	// Restarts counts restarts after crashes since Run began (not those
	// asked for with Restart).
	Restarts int
	// Failures counts consecutive crashes: exits before the process had
	// been running for the stable period.
	Failures int
	// CrashLoop is true from CrashLoopAfter consecutive failures until a
	// process stays up for the stable period.
	CrashLoop bool
	// NextStart is when a process in Backoff will be started.
	NextStart time.Time
	// LastExit is how the previous process ended; zero if none has.
	LastExit ExitStatus
	// LastErr describes the last failure (exit, readiness), "" if none.
	LastErr string
	// LastLines are the last lines the process wrote (stdout and
	// stderr, interleaved as read), oldest first.
	LastLines []string
}

// EventKind says what an Event reports.
type EventKind uint8

// Kinds of events a Child reports to its owner.
const (
	// EventStarted: a process was started (PID set).
	EventStarted EventKind = iota + 1
	// EventReady: the process passed its readiness check (Took set).
	EventReady
	// EventNotReady: the process did not pass its readiness check in
	// time and is being stopped (Err set).
	EventNotReady
	// EventExited: the process ended (Exit, Err and Lines set); Backoff
	// is the delay before the next start, 0 when none follows.
	EventExited
	// EventCrashLoop: CrashLoopAfter consecutive failures.
	EventCrashLoop
	// EventCrashLoopOver: after a crash loop, a process stayed up for the
	// stable period.
	EventCrashLoopOver
	// EventAdopted: a process left behind by an earlier run (pid file)
	// was found and stopped before starting a new one (PID set).
	EventAdopted
)

func (k EventKind) String() string {
	switch k {
	case EventStarted:
		return "started"
	case EventReady:
		return "ready"
	case EventNotReady:
		return "not-ready"
	case EventExited:
		return "exited"
	case EventCrashLoop:
		return "crash-loop"
	case EventCrashLoopOver:
		return "crash-loop-over"
	case EventAdopted:
		return "adopted"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports a change in a Child to its owner.
type Event struct {
	Kind EventKind
	PID  int
	// Took is the time to ready for EventReady.
	Took time.Duration
	// Exit is how the process ended, for EventExited.
	Exit ExitStatus
	// Backoff is the delay before the next start, for EventExited.
	Backoff time.Duration
	// Err explains EventExited and EventNotReady, with the process's last
	// lines when it exited before becoming ready.
	Err error
	// Lines are the process's last lines, for EventExited.
	Lines []string
}

// backoff returns the delay before restart number n (1 for the first
// restart): base doubled per failure, capped, with "equal jitter" (half
// fixed, half random) so that a pair of nodes restarting together drift
// apart. rnd returns a value in [0, 1).
func backoff(base, limit time.Duration, n int, rnd func() float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}

// defaultRand is the jitter source for back-off.
func defaultRand() float64 { return rand.Float64() }

// tail keeps the last lines written by a process.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) >= t.max {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:len(t.lines)-1]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

package supervisor

import (
	"errors"
	"log/slog"
	"syscall"
	"time"
)

// Defaults of a Config, which a zero field takes.
const (
	DefaultReadyTimeout = 10 * time.Second
	DefaultStopTimeout  = 10 * time.Second
	DefaultBackoffBase  = time.Second
	DefaultBackoffCap   = 30 * time.Second
)

// Config describes a supervised command. Zero durations and counts take the
// defaults named on each field.
type Config struct {
	// Name names the child in logs (component=Name) and its pid file,
	// for example "mosquitto".
	Name string
	// Command is the program and its arguments, run in the foreground
	// (no daemonising flag: the supervisor must be its parent).
	Command []string
	// Env is the child's environment; nil inherits carpd's.
	Env []string
	// Dir is the working directory; "" inherits carpd's.
	Dir string

	// Addr is the host:port the child serves, for the default readiness
	// check (a TCP connect).
	Addr string
	// Ready replaces the default readiness check; mosquitto.MQTTReady is the one
	// for brokers. With neither Ready nor Addr a child is ready once
	// started.
	Ready ReadyFunc
	// ReadyTimeout bounds the readiness check of each start (10 s).
	ReadyTimeout time.Duration
	// ReadyInterval is the pause between readiness attempts (100 ms).
	ReadyInterval time.Duration

	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (10 s; mosquitto(8): it saves its database on SIGTERM).
	StopTimeout time.Duration
	// Deathsig is what the kernel sends the child if carpd's supervising
	// thread dies (SIGKILL).
	Deathsig syscall.Signal

	// BackoffBase and BackoffCap bound the exponential back-off between
	// restarts after crashes (1 s and 30 s).
	BackoffBase, BackoffCap time.Duration
	// StableAfter is how long a process must run for its exit to count
	// as a fresh crash rather than one more in a row (30 s).
	StableAfter time.Duration
	// CrashLoopAfter is the number of crashes in a row that makes a crash
	// loop (3).
	CrashLoopAfter int

	// StateDir holds the pid file <Name>.pid; "" disables it and with it
	// the detection of a child left behind by a killed carpd.
	StateDir string
	// TailLines is how many of the child's last output lines are kept
	// for error reports (20).
	TailLines int

	// OnEvent, if set, is called with every event, from the supervising
	// goroutine: it must not block (hand the event to a channel with
	// room, or drop it).
	OnEvent func(Event)
	// Logger receives the child's output and the supervisor's messages
	// (slog.Default() if nil).
	Logger *slog.Logger
}

// withDefaults fills in zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, errors.New("child without a name")
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		return c, errors.New("child without a command")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadyTimeout, DefaultReadyTimeout)
	def(&c.ReadyInterval, 100*time.Millisecond)
	def(&c.StopTimeout, DefaultStopTimeout)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffCap, DefaultBackoffCap)
	def(&c.StableAfter, 30*time.Second)
	if c.BackoffCap < c.BackoffBase {
		c.BackoffCap = c.BackoffBase
	}
	if c.CrashLoopAfter <= 0 {
		c.CrashLoopAfter = 3
	}
	if c.TailLines <= 0 {
		c.TailLines = 20
	}
	if c.Deathsig == 0 {
		c.Deathsig = syscall.SIGKILL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Ready == nil && c.Addr != "" {
		c.Ready = tcpReady(c.Addr)
	}
	return c, nil
}

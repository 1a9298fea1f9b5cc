//go:build linux

package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/nat"
	"github.com/carpd/carpd/supervisor"
)

// recorder is a slog.Handler that keeps every record's message, level and
// attributes, and a trace of the fakes' calls, in order.
type recorder struct {
	mu    sync.Mutex
	recs  []map[string]any
	calls []string
	attrs []slog.Attr
	root  *recorder
}

func newRecorder() *recorder { r := &recorder{}; r.root = r; return r }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{attrs: append(slices.Clone(r.attrs), as...), root: r.root}
}

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level.String()}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.Any()
	}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	r.root.mu.Lock()
	defer r.root.mu.Unlock()
	r.root.recs = append(r.root.recs, m)
	return nil
}

func (r *recorder) records(msg string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, m := range r.recs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (r *recorder) call(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *recorder) trace() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// fakeHost is the daemon as the service sees it.
type fakeHost struct {
	rec *recorder
	log *slog.Logger
}

func (h *fakeHost) Logger() *slog.Logger   { return h.log }
func (h *fakeHost) SourceAddr() netip.Addr { return netip.MustParseAddr("198.18.0.1") }
func (h *fakeHost) StatusChanged()         {}
func (h *fakeHost) BrokerHealth(failed bool, weight int, why string) {
	h.rec.call("health failed=%v weight=%d %s", failed, weight, why)
}

// fakeChild is a broker process that is always ready, started when the
// service was built or at its last restart.
type fakeChild struct {
	rec     *recorder
	mu      sync.Mutex
	started time.Time
}

func (c *fakeChild) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (c *fakeChild) State() supervisor.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return supervisor.Status{Phase: supervisor.Running, PID: 4242, Ready: true, Started: c.started}
}
func (c *fakeChild) Restart(context.Context) (supervisor.RestartResult, error) {
	c.rec.call("restart")
	c.mu.Lock()
	c.started = time.Now()
	c.mu.Unlock()
	return supervisor.RestartResult{Total: time.Millisecond}, nil
}

// fakeTable is carpd's nftables table in memory; failApply makes the next
// Apply fail.
type fakeTable struct {
	rec       *recorder
	rules     []nat.Rule
	failApply bool
}

func (t *fakeTable) Name() string { return "carpd" }
func (t *fakeTable) Apply(rules []nat.Rule) error {
	if t.failApply {
		t.failApply = false
		t.rec.call("apply failed")
		return errors.New("applying: netlink says EBUSY")
	}
	t.rules = slices.Clone(rules)
	t.rec.call("apply %v", rules)
	return nil
}
func (t *fakeTable) Remove() error              { t.rules = nil; t.rec.call("remove table"); return nil }
func (t *fakeTable) Rules() ([]nat.Rule, error) { return slices.Clone(t.rules), nil }

// fakes are a service's fakes and its log.
type fakes struct {
	rec   *recorder
	table *fakeTable
	// dialled lists the addresses carpd's MQTT clients dialled; every
	// dial fails.
	mu      sync.Mutex
	dialled []string
}

func (f *fakes) dials() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dialled)
}

// testBroker is a broker section with DNAT on port 1883, no health check
// and no probe.
func testBroker() *config.Broker {
	return &config.Broker{
		Command: []string{"mosquitto"}, Addr: netip.AddrPortFrom(netip.Addr{}, 1883), Ports: []uint16{1883},
		OnPromote: "restart", OnDemote: "none", NAT: "dnat",
		ReadyTimeout: time.Second, StopTimeout: time.Second, BackoffBase: time.Second, BackoffCap: time.Second,
	}
}

// newTestService builds a service of cfg on fakes, starts it and stops it
// when the test ends.
func newTestService(t *testing.T, cfg *config.Broker) (*Service, *fakes) {
	t.Helper()
	rec := newRecorder()
	f := &fakes{rec: rec, table: &fakeTable{rec: rec}}
	dp := deps{
		lookPath: func(string) (string, error) { return "/usr/sbin/mosquitto", nil },
		newChild: func(supervisor.Config) (child, error) { return &fakeChild{rec: rec, started: time.Now()}, nil },
		table:    f.table,
		flush: func(vip netip.Addr, ports []uint16) (uint, error) {
			rec.call("flush %v %v", vip, ports)
			return 0, nil
		},
		reset: func(vip netip.Addr, ports []uint16, to netip.Addr) (uint, error) {
			rec.call("reset %v %v %v", vip, ports, to)
			return 0, nil
		},
		dial: func(_ context.Context, _, addr string) (net.Conn, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.dialled = append(f.dialled, addr)
			return nil, errors.New("the test dials nothing")
		},
	}
	s, err := newService(Config{Broker: cfg, StateDir: t.TempDir(), Version: "test"},
		&fakeHost{rec: rec, log: slog.New(rec)}, dp)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s, f
}

// waitFor polls cond every 10 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for range int(d / (10 * time.Millisecond)) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !cond() {
		t.Fatalf("no %s within %v", what, d)
	}
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/secret"
	"github.com/carpd/carpd/internal/status"
)

// Test timers: VRRPv3 at 100 ms gives a master-down interval of 300 ms +
// skew, short enough for unit tests and long enough for a loaded 2-core
// machine running the race detector.
const testInterval = 100 * time.Millisecond

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the JSON log records whose message is msg.
func (b *syncBuffer) records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// node is one in-process daemon on a fake segment.
type node struct {
	t      *testing.T
	net    *fakeNet
	d      *Daemon
	dir    string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// newNode builds a daemon on seg with interface eth0 at primary.
func newNode(t *testing.T, seg *segment, primary string, routers ...config.Router) *node {
	t.Helper()
	fn := newFakeNet(seg, map[string]string{"eth0": primary})
	return newNodeOn(t, fn, routers...)
}

func newNodeOn(t *testing.T, fn *fakeNet, routers ...config.Router) *node {
	t.Helper()
	return newNodeWith(t, fn, Options{}, routers...)
}

// newNodeWith is newNodeOn with extra options (Notify, Watchdog, ...);
// Net, Log, StateDir and ShutdownTimeout are the test's.
func newNodeWith(t *testing.T, fn *fakeNet, o Options, routers ...config.Router) *node {
	t.Helper()
	// t.TempDir is 0755; Run creates "state" 0700, as a state directory
	// must be.
	n := &node{t: t, net: fn, dir: filepath.Join(t.TempDir(), "state"), logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Net, o.Log, o.StateDir, o.ShutdownTimeout = fn, log, n.dir, 5*time.Second
	d, err := New(o, routers)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.d = d
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("logs of the node with state dir %s:\n%s", n.dir, n.logs.String())
		}
	})
	return n
}

// start runs the daemon in the background.
func (n *node) start() *node {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.d.Run(ctx) }()
	return n
}

// stop cancels Run and returns its error; it is safe to call twice.
func (n *node) stop() error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		return err
	case <-time.After(10 * time.Second):
		n.t.Errorf("Run did not return within 10s of cancel")
		return nil
	}
}

// router returns the status of the named router, or a zero value.
func (n *node) router(name string) status.Router {
	for _, r := range n.d.Status().Routers {
		if r.Name == name {
			return r
		}
	}
	return status.Router{}
}

// waitState waits until the named router is in state.
func (n *node) waitState(name, state string, timeout time.Duration) {
	n.t.Helper()
	waitFor(n.t, timeout, name+" in "+state, func() bool { return n.router(name).State == state })
}

// vrrpRouter is a VRRPv3 router on eth0 with the test interval.
func vrrpRouter(name string, id, prio uint8, vips ...string) config.Router {
	c := carp.DefaultConfig(carp.ProtoVRRP3, id)
	c.Priority, c.Interval = prio, testInterval
	return config.Router{Name: name, Iface: "eth0", Proto: c.Proto, ID: id, Machine: c, VIPs: prefixes(vips...),
		GARP: config.GARP{Repeat: 1}}
}

// carpRouter is a CARP router on eth0 with advbase 1.
func carpRouter(name string, id, skew uint8, pass string, vips ...string) config.Router {
	c := carp.DefaultConfig(carp.ProtoCARP, id)
	c.AdvSkew = skew
	return config.Router{Name: name, Iface: "eth0", Proto: c.Proto, ID: id, Machine: c, VIPs: prefixes(vips...),
		Password: secret.Secret(pass), GARP: config.GARP{Repeat: 1}}
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

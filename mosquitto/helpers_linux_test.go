//go:build linux

package mosquitto

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/supervisor"
)

// events collects a supervised mosquitto's events for a test.
type events struct {
	ch chan supervisor.Event
}

func newEvents() *events { return &events{ch: make(chan supervisor.Event, 100)} }

func (e *events) add(ev supervisor.Event) {
	select {
	case e.ch <- ev:
	default:
	}
}

// wait returns the next event of kind k, failing t after d.
func (e *events) wait(t *testing.T, k supervisor.EventKind, d time.Duration) supervisor.Event {
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

// runChild runs c until the test ends.
func runChild(t *testing.T, c *supervisor.Child) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("Run did not return within 15 s of cancel")
			}
		})
	})
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// checkGoroutines fails t if, at the end of the test, more goroutines run
// than at its start (after a short settling time for exiting ones).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		n := runtime.NumGoroutine()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		if n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d before, %d after:\n%s", before, n, buf)
		}
	})
}

//go:build linux

package mosquitto

import (
	"context"
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

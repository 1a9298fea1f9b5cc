package daemon

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/sdnotify"
	"github.com/carpd/carpd/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// fakeManager is a service manager's notify socket that also keeps, for
// READY=1, the routers' states at the moment it arrived.
type fakeManager struct {
	*testutil.Notify
	mu         sync.Mutex
	readyState []string
}

// listenManager starts a fakeManager; states reports the routers' states
// when READY=1 arrives.
func listenManager(t *testing.T, states func() []string) (*fakeManager, *sdnotify.Notifier) {
	t.Helper()
	m := &fakeManager{}
	m.Notify = testutil.ListenNotify(t, func(msg string) {
		if msg != sdnotify.Ready {
			return
		}
		if st := states(); st != nil {
			m.mu.Lock()
			m.readyState = st
			m.mu.Unlock()
		}
	})
	n, err := sdnotify.Open(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return m.Path
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, n
}

// TestNotify runs a daemon under a fake NOTIFY_SOCKET: READY=1 comes once
// both routers have their first state, WATCHDOG=1 comes every half
// interval, stops while a router goroutine is stuck and comes back when
// it is free, and STOPPING=1 is the last word.
func TestNotify(t *testing.T) {
	seg := &segment{}
	fn := newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"})
	var n *node
	mgr, notifier := listenManager(t, func() []string {
		var out []string
		for _, r := range n.d.Status().Routers {
			out = append(out, r.Name+" "+r.State)
		}
		return out
	})
	const watchdog = 300 * time.Millisecond
	n = newNodeWith(t, fn, Options{Notify: notifier, Watchdog: watchdog},
		vrrpRouter("a", 7, 100, "198.18.0.100/32"), vrrpRouter("b", 8, 100, "198.18.0.101/32"))
	n.start()
	waitFor(t, 2*time.Second, "READY=1", func() bool { return mgr.Count(sdnotify.Ready) == 1 })
	mgr.mu.Lock()
	got := mgr.readyState
	mgr.mu.Unlock()
	if diff := cmp.Diff([]string{"a BACKUP", "b BACKUP"}, got); diff != "" {
		t.Errorf("states when READY=1 arrived (-want +got):\n%s", diff)
	}
	waitFor(t, 2*time.Second, "three WATCHDOG=1", func() bool { return mgr.Count(sdnotify.Watchdog) >= 3 })

	// A stuck router goroutine withholds the watchdog.
	r, err := n.d.router("b")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	r.post(func(time.Time) { <-release })
	before := mgr.Count(sdnotify.Watchdog)
	waitFor(t, 2*time.Second, "the watchdog withheld", func() bool {
		return len(n.logs.records("withholding the watchdog notification")) >= 2
	})
	if got := mgr.Count(sdnotify.Watchdog); got > before+1 { // one may have been on its way
		t.Errorf("WATCHDOG=1 sent %d times while router b was stuck", got-before)
	}
	close(release)
	stuck := mgr.Count(sdnotify.Watchdog)
	waitFor(t, 2*time.Second, "WATCHDOG=1 again", func() bool { return mgr.Count(sdnotify.Watchdog) > stuck })

	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "STOPPING=1", func() bool { return mgr.Count(sdnotify.Stopping) == 1 })
	msgs := withoutStatus(mgr.Messages())
	if msgs[0] != sdnotify.Ready || msgs[len(msgs)-1] != sdnotify.Stopping {
		t.Errorf("messages %q: want READY=1 first and STOPPING=1 last", msgs)
	}
	for _, m := range msgs[1 : len(msgs)-1] {
		if m != sdnotify.Watchdog {
			t.Errorf("unexpected message %q between READY and STOPPING", m)
		}
	}
}

// TestNotifyNoWatchdog sends READY=1 and STOPPING=1 only when systemd set
// no watchdog.
func TestNotifyNoWatchdog(t *testing.T) {
	seg := &segment{}
	var n *node
	mgr, notifier := listenManager(t, func() []string { return nil })
	n = newNodeWith(t, newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"}), Options{Notify: notifier},
		vrrpRouter("a", 7, 100, "198.18.0.100/32"))
	n.start()
	waitFor(t, 2*time.Second, "READY=1", func() bool { return mgr.Count(sdnotify.Ready) == 1 })
	time.Sleep(200 * time.Millisecond)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "STOPPING=1", func() bool { return mgr.Count(sdnotify.Stopping) == 1 })
	if diff := cmp.Diff([]string{sdnotify.Ready, sdnotify.Stopping}, withoutStatus(mgr.Messages())); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// withoutStatus leaves out STATUS= messages, which TestNotifyStatusAndReload
// covers.
func withoutStatus(msgs []string) []string {
	return slices.DeleteFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "STATUS=") })
}

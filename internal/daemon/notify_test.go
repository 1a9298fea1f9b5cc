package daemon

import (
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/sdnotify"
	"github.com/google/go-cmp/cmp"
)

// fakeManager is a service manager's notify socket in a temporary
// directory: it keeps every datagram and, for READY=1, the routers'
// states at the moment it arrived.
type fakeManager struct {
	mu         sync.Mutex
	msgs       []string
	readyState []string
}

// listenManager starts a fakeManager; states reports the routers' states
// when READY=1 arrives.
func listenManager(t *testing.T, states func() []string) (*fakeManager, *sdnotify.Notifier) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	m := &fakeManager{}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			msg := string(buf[:k])
			var st []string
			if msg == sdnotify.Ready {
				st = states()
			}
			m.mu.Lock()
			m.msgs = append(m.msgs, msg)
			if st != nil {
				m.readyState = st
			}
			m.mu.Unlock()
		}
	}()
	n, err := sdnotify.Open(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, n
}

func (m *fakeManager) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

func (m *fakeManager) count(msg string) int {
	n := 0
	for _, x := range m.messages() {
		if x == msg {
			n++
		}
	}
	return n
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
	waitFor(t, 2*time.Second, "READY=1", func() bool { return mgr.count(sdnotify.Ready) == 1 })
	mgr.mu.Lock()
	got := mgr.readyState
	mgr.mu.Unlock()
	if diff := cmp.Diff([]string{"a BACKUP", "b BACKUP"}, got); diff != "" {
		t.Errorf("states when READY=1 arrived (-want +got):\n%s", diff)
	}
	waitFor(t, 2*time.Second, "three WATCHDOG=1", func() bool { return mgr.count(sdnotify.Watchdog) >= 3 })

	// A stuck router goroutine withholds the watchdog.
	r, err := n.d.router("b")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	r.post(func(time.Time) { <-release })
	before := mgr.count(sdnotify.Watchdog)
	waitFor(t, 2*time.Second, "the watchdog withheld", func() bool {
		return len(n.logs.records("withholding the watchdog notification")) >= 2
	})
	if got := mgr.count(sdnotify.Watchdog); got > before+1 { // one may have been on its way
		t.Errorf("WATCHDOG=1 sent %d times while router b was stuck", got-before)
	}
	close(release)
	stuck := mgr.count(sdnotify.Watchdog)
	waitFor(t, 2*time.Second, "WATCHDOG=1 again", func() bool { return mgr.count(sdnotify.Watchdog) > stuck })

	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "STOPPING=1", func() bool { return mgr.count(sdnotify.Stopping) == 1 })
	msgs := mgr.messages()
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
	waitFor(t, 2*time.Second, "READY=1", func() bool { return mgr.count(sdnotify.Ready) == 1 })
	time.Sleep(200 * time.Millisecond)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "STOPPING=1", func() bool { return mgr.count(sdnotify.Stopping) == 1 })
	if diff := cmp.Diff([]string{sdnotify.Ready, sdnotify.Stopping}, mgr.messages()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

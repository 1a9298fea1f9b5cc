//go:build linux

package daemon

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// armed reads t's timerfd: the time left and the period; a zero left
// means disarmed.
func armed(t *testing.T, ft *fdTimer) (left, every time.Duration) {
	t.Helper()
	var cur unix.ItimerSpec
	if _, _, errno := unix.Syscall(unix.SYS_TIMERFD_GETTIME, ft.fd, uintptr(unsafe.Pointer(&cur)), 0); errno != 0 {
		t.Fatalf("timerfd_gettime: %v", errno)
	}
	return time.Duration(cur.Value.Nano()), time.Duration(cur.Interval.Nano())
}

// newTestTimer returns a timerfd timer whose expiries arrive on the
// channel, closed at the end of the test.
func newTestTimer(t *testing.T) (*fdTimer, chan time.Time) {
	t.Helper()
	c := make(chan time.Time, 64)
	ft, err := newFDTimer(func() {
		select {
		case c <- time.Now():
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ft.Close)
	return ft, c
}

// await waits for the next expiry, at most 10 s.
func await(t *testing.T, c <-chan time.Time, what string) time.Time {
	t.Helper()
	select {
	case at := <-c:
		return at
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no expiry within 10s", what)
		return time.Time{}
	}
}

// TestFDTimer checks the timerfd timer: Set arms it for the deadline
// given, a due (or past) deadline fires at once, Stop disarms it, and
// Close ends its reader.
func TestFDTimer(t *testing.T) {
	ft, c := newTestTimer(t)
	ft.Set(time.Now().Add(time.Hour), 0)
	if left, every := armed(t, ft); left <= 59*time.Minute || left > time.Hour || every != 0 {
		t.Errorf("after Set(in 1h, 0): %v left, period %v", left, every)
	}
	ft.Stop()
	if left, _ := armed(t, ft); left != 0 {
		t.Errorf("after Stop %v left, want disarmed", left)
	}
	sets := ft.sets
	ft.Stop()
	if ft.sets != sets {
		t.Error("Stop of a disarmed timer called timerfd_settime")
	}
	for _, d := range []time.Duration{0, -time.Second, time.Millisecond} {
		start := time.Now()
		ft.Set(start.Add(d), 0)
		at := await(t, c, "Set(now+"+d.String()+")")
		if at.Before(start.Add(d)) {
			t.Errorf("Set(now+%v) fired %v before its deadline", d, start.Add(d).Sub(at))
		}
	}
	ft.Close()
	select {
	case <-ft.done:
	default:
		t.Error("the reader still runs after Close")
	}
}

// TestFDTimerPeriodic checks a MASTER's timer: armed once with a period,
// it fires at each deadline, never before it, and Set with the next
// deadline of the period makes no system call; the reader reads the
// timerfd only when the poller found it readable, so no read comes back
// empty but for the one at start and one per expiry it read late.
func TestFDTimerPeriodic(t *testing.T) {
	ft, c := newTestTimer(t)
	const every = 20 * time.Millisecond
	dl := time.Now().Add(every)
	ft.Set(dl, every)
	sets := ft.sets
	for i := range 5 {
		at := await(t, c, "periodic")
		ft.mu.Lock()
		next := ft.next
		ft.mu.Unlock()
		// The expiry read was for next−every (or later ones, read late).
		if at.Before(dl) {
			t.Fatalf("expiry %d at %v, before its deadline %v", i, at, dl)
		}
		if next.Sub(dl) <= 0 || next.Sub(dl)%every != 0 {
			t.Fatalf("after expiry %d the next deadline is dl+%v, want dl+k·%v", i, next.Sub(dl), every)
		}
		dl = next
		ft.Set(next, every) // what the router does after each advert
	}
	ft.mu.Lock()
	gotSets, empty, expiries, fired := ft.sets, ft.empty, ft.expiries, ft.fired
	ft.mu.Unlock()
	if gotSets != sets {
		t.Errorf("%d timerfd_settime calls for the deadlines of the period, want none", gotSets-sets)
	}
	if _, p := armed(t, ft); p != every {
		t.Errorf("period %v, want %v", p, every)
	}
	if empty > 1+expiries-fired {
		t.Errorf("%d reads found no expiry in %d reads of %d expiries: the reader does not wait for the poller",
			empty, fired, expiries)
	}
	// Another deadline, or none, re-arms it.
	ft.Set(dl.Add(every/2), every)
	if ft.sets != gotSets+1 {
		t.Errorf("Set off the period: %d timerfd_settime calls, want 1", ft.sets-gotSets)
	}
	ft.Set(dl.Add(time.Hour), 0)
	if _, p := armed(t, ft); p != 0 {
		t.Errorf("period %v after Set(…, 0), want none", p)
	}
}

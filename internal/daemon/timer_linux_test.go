//go:build linux

package daemon

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// armed reads the time left on t's timerfd; zero means disarmed.
func armed(t *testing.T, ft *fdTimer) time.Duration {
	t.Helper()
	var cur unix.ItimerSpec
	if _, _, errno := unix.Syscall(unix.SYS_TIMERFD_GETTIME, ft.fd, uintptr(unsafe.Pointer(&cur)), 0); errno != 0 {
		t.Fatalf("timerfd_gettime: %v", errno)
	}
	return time.Duration(cur.Value.Nano())
}

// TestFDTimer checks the timerfd timer: Reset arms it for the duration
// given, a due (or past) deadline fires at once, Stop disarms it and drops
// a pending tick, and Close ends its reader.
func TestFDTimer(t *testing.T) {
	ft, err := newFDTimer()
	if err != nil {
		t.Fatal(err)
	}
	ft.Reset(time.Hour)
	if left := armed(t, ft); left <= 59*time.Minute || left > time.Hour {
		t.Errorf("after Reset(1h) %v left", left)
	}
	ft.Stop()
	if left := armed(t, ft); left != 0 {
		t.Errorf("after Stop %v left, want disarmed", left)
	}
	for _, d := range []time.Duration{0, -time.Second, time.Millisecond} {
		start := time.Now()
		ft.Reset(d)
		select {
		case <-ft.C():
			t.Logf("Reset(%v) fired after %v", d, time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatalf("Reset(%v): no tick within 10s", d)
		}
	}
	// A tick left pending is dropped by Stop.
	ft.Reset(time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for len(ft.c) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ft.Stop()
	select {
	case <-ft.C():
		t.Error("a tick pending before Stop was delivered after it")
	default:
	}
	ft.Close()
	select {
	case <-ft.done:
	default:
		t.Error("the reader still runs after Close")
	}
}

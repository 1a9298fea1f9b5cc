package sdnotify

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMonotonic reads CLOCK_MONOTONIC: it brackets Go's own monotonic
// readings (the same clock on Linux) and never exceeds CLOCK_BOOTTIME,
// which also counts suspend; a wall clock or another origin would not.
func TestMonotonic(t *testing.T) {
	m1, err := Monotonic()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for range 1000 {
		_ = time.Now()
	}
	t1 := time.Now()
	m2, err := Monotonic()
	if err != nil {
		t.Fatal(err)
	}
	var boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		t.Fatal(err)
	}
	t.Logf("CLOCK_MONOTONIC %v then %v, Go measured %v between", m1, m2, t1.Sub(t0))
	if m2-m1 < t1.Sub(t0) {
		t.Errorf("Monotonic advanced %v across a span Go measured as %v", m2-m1, t1.Sub(t0))
	}
	if m1 <= 0 || m2 > time.Duration(boot.Nano()) {
		t.Errorf("Monotonic %v, %v: want in (0, CLOCK_BOOTTIME %v]", m1, m2, time.Duration(boot.Nano()))
	}
}

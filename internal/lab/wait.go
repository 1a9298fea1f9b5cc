package lab

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// WaitFor calls cond every interval until it returns true or ctx is done. The
// context must carry a deadline, so that every wait in a lab test is bounded;
// WaitFor returns an error at once otherwise. cond runs on the calling
// goroutine, first without delay.
func WaitFor(ctx context.Context, interval time.Duration, cond func() bool) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("lab: WaitFor needs a context with a deadline")
	}
	if interval <= 0 {
		return fmt.Errorf("lab: WaitFor interval %v is not positive", interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: condition not met: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Wait is WaitFor for a test: it polls cond every 20 ms for at most
// timeout and fails t, naming what it waited for, if cond never held.
func Wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := WaitFor(ctx, 20*time.Millisecond, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

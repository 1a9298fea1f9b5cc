package supervisor

import (
	"context"
	"fmt"
	"net"
	"time"
)

// ReadyFunc checks once whether a started process serves; it returns nil when
// it does. It must return when ctx is done.
type ReadyFunc func(ctx context.Context) error

// tcpReady returns a check that succeeds once a TCP connection to addr
// (host:port) is accepted: the default when Config.Ready is nil.
func tcpReady(addr string) ReadyFunc {
	return func(ctx context.Context) error {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// pollReady calls check every interval until it succeeds, ctx is done or
// timeout has passed, and returns the time from start until success.
func pollReady(ctx context.Context, check ReadyFunc, start time.Time, interval, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last error
	for {
		if last = check(ctx); last == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			if context.Cause(ctx) == context.DeadlineExceeded {
				return 0, fmt.Errorf("not ready within %v: %w", timeout, last)
			}
			return 0, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// Command mqttclient is the demo's MQTT client: a QoS 1 publisher and a
// subscriber on one broker address (the VIP), a sequence number every
// interval. It prints each connection event and when messages stop and
// resume, one line each, and at the end (after -duration, or on SIGTERM or
// SIGINT) a summary: the longest gap between two arrivals (the outage),
// sent, received, lost and duplicates.
//
//	mqttclient -broker 198.18.0.10:1883 -duration 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/carpd/carpd/internal/mqttstream"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mqttclient:", err)
		os.Exit(1)
	}
}

// clock prints event lines, stamped relative to t0 when it is set.
type clock struct {
	mu sync.Mutex
	t0 time.Time
}

func (c *clock) stamp(at time.Time) string {
	if c.t0.IsZero() {
		return at.Format("15:04:05.000")
	}
	return fmt.Sprintf("+%.3fs", at.Sub(c.t0).Seconds())
}

func (c *clock) printf(at time.Time, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Printf("%s %s\n", c.stamp(at), fmt.Sprintf(format, args...))
}

func run() error {
	broker := flag.String("broker", "198.18.0.10:1883", "broker `HOST:PORT`")
	topic := flag.String("topic", mqttstream.DefaultTopic, "topic to publish and subscribe to")
	every := flag.Duration("interval", mqttstream.DefaultEvery, "publishing interval")
	duration := flag.Duration("duration", time.Minute, "stop after this long (at most 10m)")
	stall := flag.Duration("stall", 300*time.Millisecond, "report messages as stopped after this long without one")
	t0 := flag.String("t0", "", "print times relative to this Unix time (`SECONDS`, e.g. from date +%s.%N)")
	flag.Parse()
	if *duration <= 0 || *duration > 10*time.Minute {
		return fmt.Errorf("-duration %v: want 1ns..10m", *duration)
	}
	c := &clock{}
	if *t0 != "" {
		secs, err := strconv.ParseFloat(*t0, 64)
		if err != nil {
			return fmt.Errorf("-t0 %q: %w", *t0, err)
		}
		c.t0 = time.Unix(0, int64(secs*1e9))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	s, err := mqttstream.Start(mqttstream.Config{
		Addr: *broker, Topic: *topic, Every: *every, ClientID: fmt.Sprintf("demo-%d", os.Getpid()),
		OnEvent: func(e mqttstream.Event) { c.printf(e.At, "%v", e) },
	}, 5*time.Second)
	if err != nil {
		return err
	}
	watch(ctx, c, s, *stall)
	r := s.Stop(time.Second)
	end := "-"
	if !r.GapEnd.IsZero() {
		end = c.stamp(r.GapEnd)
	}
	c.printf(time.Now(), "summary: outage %d ms (longest gap, ended %s), sent %d, received %d, lost %d, duplicates %d",
		r.Gap.Milliseconds(), end, r.Sent, r.Received, r.Lost, r.Dups)
	return nil
}

// watch reports when messages stop arriving for stall and when they come
// again, until ctx is done.
func watch(ctx context.Context, c *clock, s *mqttstream.Stream, stall time.Duration) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last, lastAt, stopped := s.Received(), time.Now(), false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n := s.Received()
			switch {
			case n != last && stopped:
				c.printf(now, "messages resumed after %d ms", now.Sub(lastAt).Milliseconds())
				stopped = false
			case n == last && !stopped && now.Sub(lastAt) >= stall:
				c.printf(lastAt, "messages stopped")
				stopped = true
			}
			if n != last {
				last, lastAt = n, now
			}
		}
	}
}

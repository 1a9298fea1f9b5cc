//go:build linux

package main

import (
	"context"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/mqttstream"
)

// Client timers of the stream (mqttstream's defaults): a dead TCP path is
// noticed after the keepalive plus the ping timeout, and paho retries at
// most every clientRetry.
const (
	clientKeepalive = mqttstream.DefaultKeepalive
	clientPingWait  = mqttstream.DefaultPingTimeout
	clientRetry     = mqttstream.DefaultRetry
	streamEvery     = mqttstream.DefaultEvery
)

// stream is a QoS 1 publisher and a subscriber, both on the VIP from the
// lab's client namespace: the publisher sends a sequence number every
// 10 ms, the subscriber records when each arrives.
type stream struct{ *mqttstream.Stream }

// startStream connects both clients to addr from inside c and waits until
// the subscriber receives.
func startStream(t *testing.T, c *lab.Node, addr string) stream {
	t.Helper()
	s, err := mqttstream.Start(mqttstream.Config{Addr: addr, Dial: labDialer(c)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(0) })
	lab.Wait(t, 5*time.Second, "stream flowing", func() bool { return s.Received() >= 20 })
	return stream{s}
}

// waitResumed waits until messages published after now arrive.
func (s stream) waitResumed(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.WaitResumed(ctx); err != nil {
		t.Fatalf("waiting %v for the stream to resume: %v", timeout, err)
	}
}

// finish stops publishing, lets in-flight messages arrive and sums up.
func (s stream) finish() mqttstream.Result { return s.Stop(time.Second) }

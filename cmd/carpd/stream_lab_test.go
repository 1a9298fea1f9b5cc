//go:build linux

package main

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Client timers of the stream: a dead TCP path is noticed after the
// keepalive plus the ping timeout, and paho retries at most every
// clientRetry (its first reconnect sleeps min(1 s, MaxReconnectInterval)).
const (
	clientKeepalive = time.Second
	clientPingWait  = time.Second
	clientRetry     = 250 * time.Millisecond
	streamTopic     = "home/stream"
	streamEvery     = 10 * time.Millisecond
)

// stream is a QoS 1 publisher and a subscriber, both on the VIP from the
// lab's client namespace: the publisher sends a sequence number every
// 10 ms, the subscriber records when each arrives.
type stream struct {
	pub, sub mqtt.Client
	cancel   context.CancelFunc
	done     chan struct{}

	mu   sync.Mutex
	sent int
	got  []arrival
}

type arrival struct {
	seq int
	at  time.Time
}

// streamResult sums up a stream after it stopped.
type streamResult struct {
	sent, received, lost, dups int
	// gap is the longest time between two arrivals after start, and
	// gapEnd when it ended.
	gap    time.Duration
	gapEnd time.Time
}

func streamClient(c *lab.Node, addr, id string, onConnect mqtt.OnConnectHandler) mqtt.Client {
	dial := labDialer(c)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true).
		SetOrderMatters(false).SetKeepAlive(clientKeepalive).SetPingTimeout(clientPingWait).
		SetConnectTimeout(time.Second).SetWriteTimeout(time.Second).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(clientRetry).
		SetMaxReconnectInterval(clientRetry).SetOnConnectHandler(onConnect)
	o.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return dial(ctx, addr)
	})
	return mqtt.NewClient(o)
}

// startStream connects both clients to addr and starts publishing once the
// subscriber receives.
func startStream(t *testing.T, c *lab.Node, addr string) *stream {
	t.Helper()
	s := &stream{done: make(chan struct{})}
	s.sub = streamClient(c, addr, "stream-sub", func(cl mqtt.Client) {
		// CleanSession: every (re)connection subscribes again.
		cl.Subscribe(streamTopic, 1, s.record).WaitTimeout(time.Second)
	})
	s.pub = streamClient(c, addr, "stream-pub", nil)
	for _, cl := range []mqtt.Client{s.sub, s.pub} {
		if tok := cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connecting to %s: %v", addr, tok.Error())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.publish(ctx)
	t.Cleanup(s.stop)
	waitLab(t, 5*time.Second, "stream flowing", func() bool { return s.count() >= 20 })
	return s
}

func (s *stream) record(_ mqtt.Client, m mqtt.Message) {
	n, err := strconv.Atoi(string(m.Payload()))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.got = append(s.got, arrival{n, time.Now()})
	s.mu.Unlock()
}

func (s *stream) publish(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(streamEvery)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.pub.Publish(streamTopic, 1, false, strconv.Itoa(seq))
		s.mu.Lock()
		s.sent = seq
		s.mu.Unlock()
	}
}

func (s *stream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// lastSeq is the highest sequence number received.
func (s *stream) lastSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := 0
	for _, a := range s.got {
		last = max(last, a.seq)
	}
	return last
}

// waitResumed waits until messages published after now arrive.
func (s *stream) waitResumed(t *testing.T, timeout time.Duration) {
	t.Helper()
	s.mu.Lock()
	from := s.sent
	s.mu.Unlock()
	waitLab(t, timeout, "stream resuming", func() bool { return s.lastSeq() > from+20 })
}

func (s *stream) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
	s.pub.Disconnect(100)
	s.sub.Disconnect(100)
}

// finish stops publishing, lets in-flight messages arrive and sums up.
func (s *stream) finish() streamResult {
	s.cancel()
	<-s.done
	time.Sleep(time.Second)
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := streamResult{sent: s.sent, received: len(s.got)}
	seen := make(map[int]bool)
	for i, a := range s.got {
		if seen[a.seq] {
			r.dups++
		}
		seen[a.seq] = true
		if i > 0 {
			if d := a.at.Sub(s.got[i-1].at); d > r.gap {
				r.gap, r.gapEnd = d, a.at
			}
		}
	}
	for seq := 1; seq <= s.sent; seq++ {
		if !seen[seq] {
			r.lost++
		}
	}
	return r
}

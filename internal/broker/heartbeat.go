//go:build linux

package broker

import (
	"context"
	"sync"
	"time"

	"github.com/carpd/carpd/internal/heartbeat"
)

// hbQueue is how many heartbeats wait for the publisher: a few per
// router; when the connection stalls the oldest are dropped, as a newer
// heartbeat replaces them anyway.
const hbQueue = 32

// hbLink carries the routers' heartbeats over the probe's connections
// (mosquitto/heartbeat.go): a queue the routers never wait on, one
// publisher goroutine, and the receiver of the peer's heartbeats.
type hbLink struct {
	out  chan heartbeat.Beat
	node string // this node as the probe names it

	mu   sync.Mutex
	recv func(heartbeat.Beat, time.Time)
	bad  uint64 // payloads refused, logged on the first
}

// HeartbeatOn reports whether heartbeats travel: the probe runs (it has
// a configured peer) and the heartbeat topic is set.
func (s *Service) HeartbeatOn() bool {
	return s.probe != nil && s.probe.off == "" && s.cfg.Probe.HeartbeatTopic != ""
}

// OnHeartbeat sets the receiver of the peer's heartbeats; call it before
// Start. fn runs on the MQTT client's goroutine and must not block.
func (s *Service) OnHeartbeat(fn func(heartbeat.Beat, time.Time)) {
	s.hb.mu.Lock()
	s.hb.recv = fn
	s.hb.mu.Unlock()
}

// PublishHeartbeat queues b for the peer without blocking: when the queue
// is full the oldest heartbeat is dropped.
func (s *Service) PublishHeartbeat(b heartbeat.Beat) {
	b.Node = s.hb.node
	for range 2 {
		select {
		case s.hb.out <- b:
			return
		default:
		}
		select {
		case <-s.hb.out:
		default:
		}
	}
}

// received parses a payload from the peer and hands it on.
func (s *Service) heartbeatIn(payload []byte, at time.Time) {
	b, err := heartbeat.Parse(payload)
	s.hb.mu.Lock()
	fn := s.hb.recv
	if err != nil {
		s.hb.bad++
	}
	first := err != nil && s.hb.bad == 1
	s.hb.mu.Unlock()
	switch {
	case first:
		s.log.Warn("heartbeat refused (logged once)", "error", err)
	case err == nil && fn != nil:
		fn(b, at)
	}
}

// publishHeartbeats publishes queued heartbeats until ctx ends. Each is
// encoded into a fresh buffer, as the MQTT client keeps it until sent.
func (s *Service) publishHeartbeats(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.hb.out:
			p := s.probe.current()
			if p == nil {
				continue
			}
			_ = p.PublishHeartbeat(heartbeat.Append(make([]byte, 0, 256), &b))
		}
	}
}

//go:build linux

package broker

import (
	"testing"

	"github.com/carpd/carpd/internal/heartbeat"
)

// A full queue drops its oldest heartbeat, never blocks the router, and
// queuing allocates nothing.
func TestPublishHeartbeatDropsOldest(t *testing.T) {
	s := &Service{hb: hbLink{out: make(chan heartbeat.Beat, 2), node: "198.18.0.1"}}
	for seq := uint64(1); seq <= 3; seq++ {
		s.PublishHeartbeat(heartbeat.Beat{Seq: seq})
	}
	var got []uint64
	for len(s.hb.out) > 0 {
		b := <-s.hb.out
		if b.Node != "198.18.0.1" {
			t.Errorf("queued heartbeat names node %q", b.Node)
		}
		got = append(got, b.Seq)
	}
	if len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("queue after 3 into 2 slots: seq %v, want [2 3]", got)
	}
	b := heartbeat.Beat{Router: "mqtt"}
	if n := testing.AllocsPerRun(100, func() { s.PublishHeartbeat(b) }); n != 0 {
		t.Errorf("PublishHeartbeat allocates %v times", n)
	}
}

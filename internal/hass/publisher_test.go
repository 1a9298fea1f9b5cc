package hass

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestQueueDropsOldest fills the queue past its bound without a broker:
// the oldest messages go, are counted, and a full resend is due.
func TestQueueDropsOldest(t *testing.T) {
	p := New(Config{Node: testNode, QueueLen: 3})
	p.AddRouter("a") // config + OFF
	p.SetMaster("a", true)
	p.SetMaster("a", false)
	p.SetMaster("a", true)
	want := []Message{
		{"carpd/node1/a/master", "ON"},
		{"carpd/node1/a/master", "OFF"},
		{"carpd/node1/a/master", "ON"},
	}
	p.mu.Lock()
	got, resync := p.queue, p.resync
	p.mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue (-want +got):\n%s", diff)
	}
	if st := p.Stats(); st.Dropped != 2 || !resync {
		t.Errorf("dropped %d, resync %v; want 2 and true", st.Dropped, resync)
	}
}

// TestWantedState checks what a (re)connection sends: the configs in the
// order announced, then the states, a removed router gone from both.
func TestWantedState(t *testing.T) {
	p := New(Config{Node: testNode})
	p.AddRouter("a")
	p.AddRouter("b")
	p.AddProbe("out")
	p.SetMaster("b", true)
	p.SetLatency("out", 1500000, true)
	p.AddRouter("b") // again, after a restart on reload: keeps its state
	p.RemoveRouter("a")
	gotConfigs, gotStates := p.configs.messages(), p.states.messages()
	wantConfigs := []Message{testNode.MasterConfig("b"), testNode.LatencyConfig("out")}
	wantStates := []Message{{"carpd/node1/b/master", "ON"}, {"carpd/node1/probe/out/latency", "1.5"}}
	if diff := cmp.Diff(wantConfigs, gotConfigs); diff != "" {
		t.Errorf("configs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantStates, gotStates); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	p.mu.Lock()
	tail := p.queue[len(p.queue)-2:]
	p.mu.Unlock()
	want := []Message{Remove(testNode.MasterConfig("a").Topic), Remove("carpd/node1/a/master")}
	if diff := cmp.Diff(want, tail); diff != "" {
		t.Errorf("removal messages (-want +got):\n%s", diff)
	}
}

// TestAdvertsLostEntity: the adverts-lost sensor is announced OFF, follows
// SetAdvertsLost, keeps its state when announced again, and goes with its
// router; a router without one removes only its master entity
// (TestWantedState).
func TestAdvertsLostEntity(t *testing.T) {
	p := New(Config{Node: testNode})
	p.AddRouter("a")
	p.AddAdvertsLost("a")
	p.SetAdvertsLost("a", true)
	p.AddAdvertsLost("a")
	wantConfigs := []Message{testNode.MasterConfig("a"), testNode.AdvertsLostConfig("a")}
	wantStates := []Message{{"carpd/node1/a/master", "OFF"}, {"carpd/node1/a/adverts_lost", "ON"}}
	if diff := cmp.Diff(wantConfigs, p.configs.messages()); diff != "" {
		t.Errorf("configs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantStates, p.states.messages()); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	p.RemoveRouter("a")
	p.mu.Lock()
	tail := p.queue[len(p.queue)-4:]
	p.mu.Unlock()
	want := []Message{Remove(testNode.MasterConfig("a").Topic), Remove("carpd/node1/a/master"),
		Remove(testNode.AdvertsLostConfig("a").Topic), Remove("carpd/node1/a/adverts_lost")}
	if diff := cmp.Diff(want, tail); diff != "" {
		t.Errorf("removal messages (-want +got):\n%s", diff)
	}
	if n := len(p.configs.messages()) + len(p.states.messages()); n != 0 {
		t.Errorf("%d retained messages left after the removal, want 0", n)
	}
}

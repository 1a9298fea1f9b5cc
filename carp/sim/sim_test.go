package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/google/go-cmp/cmp"
)

// busy runs a scenario that uses every feature of the simulator and
// returns its transition log and counters.
func busy(t *testing.T, seed uint64) ([]Transition, Stats) {
	t.Helper()
	s := build(t, seed, carp.ProtoCARP, []int{0, 1, 2, 3, 4}, func(c *carp.Config) { c.Preempt = true })
	s.SetDefaultLink(Link{Loss: 0.2, Delay: 2 * time.Millisecond, Jitter: 5 * time.Millisecond})
	s.SetLink(0, 1, Link{Loss: 0.4, Delay: 30 * time.Millisecond, Jitter: 20 * time.Millisecond})
	steps := []func(){
		func() { s.Partition([]int{0, 1}, []int{2, 3}) },
		s.Heal,
		func() { s.Crash(0) },
		func() { s.SetDemotion(1, 200) },
		func() { s.Restart(0) },
		func() { s.Shutdown(2) },
		func() { s.Restart(2) },
	}
	for _, step := range steps {
		run(t, s, 37*time.Second)
		step()
	}
	run(t, s, 10*time.Minute)
	return append([]Transition(nil), s.Transitions()...), s.Stats()
}

func TestDeterminism(t *testing.T) {
	log1, stats1 := busy(t, 7)
	log2, stats2 := busy(t, 7)
	if diff := cmp.Diff(log1, log2); diff != "" {
		t.Errorf("same seed, different transitions (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(stats1, stats2); diff != "" {
		t.Errorf("same seed, different stats (-first +second):\n%s", diff)
	}
	log3, _ := busy(t, 8)
	if cmp.Equal(log1, log3) {
		t.Errorf("seeds 7 and 8 gave identical logs of %d transitions: the seed is not used", len(log1))
	}
	t.Logf("seed 7: %d transitions, %+v", len(log1), stats1)
}

func TestRunawayBound(t *testing.T) {
	s := build(t, 1, carp.ProtoCARP, []int{0, 1}, nil)
	s.MaxEvents = 50
	err := s.RunFor(time.Hour)
	if !errors.Is(err, ErrRunaway) {
		t.Fatalf("RunFor(1h) with MaxEvents 50 = %v, want ErrRunaway", err)
	}
	if s.Elapsed() >= time.Hour {
		t.Errorf("clock advanced to %v despite the bound", s.Elapsed())
	}
}

// TestLinkDelay checks that a copy arrives exactly Delay after it is sent.
func TestLinkDelay(t *testing.T) {
	s := build(t, 1, carp.ProtoCARP, []int{0, 1}, nil)
	s.SetLink(0, 1, Link{Delay: 50 * time.Millisecond})
	// Node 0 claims and sends its first advert at exactly 3 s; node 1
	// would claim at 3.078 s, so 50 ms later its timer is still running.
	run(t, s, 3*time.Second+50*time.Millisecond-time.Nanosecond)
	if got := s.Stats(); got.Sent != 1 || got.Delivered != 0 {
		t.Fatalf("just before the delay: %+v, want 1 sent, 0 delivered", got)
	}
	run(t, s, time.Nanosecond)
	if got := s.Stats(); got.Delivered != 1 {
		t.Fatalf("at the delay: %+v, want 1 delivered", got)
	}
}

// TestCutOff checks partitions and total loss: nothing gets through, so
// every node claims, and dropped adverts are counted apart from lost ones.
func TestCutOff(t *testing.T) {
	s := build(t, 1, carp.ProtoCARP, []int{0, 1, 2}, nil)
	s.Partition([]int{0}) // 1 and 2 are in no group: each alone
	run(t, s, 10*time.Second)
	if diff := cmp.Diff([]int{0, 1, 2}, s.Masters()); diff != "" {
		t.Errorf("partitioned masters (-want +got):\n%s", diff)
	}
	if got := s.Stats(); got.Delivered != 0 || got.Sent == 0 {
		t.Errorf("partitioned stats %+v, want sends and no deliveries", got)
	}

	s = build(t, 1, carp.ProtoCARP, []int{0, 1}, nil)
	s.SetDefaultLink(Link{Loss: 1})
	run(t, s, 10*time.Second)
	if got := s.Stats(); len(s.Masters()) != 2 || got.Delivered != 0 || got.Lost != got.Sent {
		t.Errorf("total loss: masters %v stats %+v, want 2 masters, every copy lost", s.Masters(), got)
	}

	// VRRPv2 nodes with different intervals drop each other's adverts
	// (RFC 3768 §7.1) and both end up MASTER.
	s = New(1, epoch)
	for i, iv := range []time.Duration{time.Second, 2 * time.Second} {
		if _, err := s.AddNode(nodeCfg(carp.ProtoVRRP2, i, i, func(c *carp.Config) { c.Interval = iv })); err != nil {
			t.Fatal(err)
		}
	}
	run(t, s, 20*time.Second)
	if got := s.Stats(); len(s.Masters()) != 2 || got.Dropped == 0 || got.Delivered != 0 {
		t.Errorf("interval mismatch: masters %v stats %+v, want 2 masters, all copies dropped", s.Masters(), got)
	}
}

package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/google/go-cmp/cmp"
)

var protos = []carp.Proto{carp.ProtoCARP, carp.ProtoVRRP3, carp.ProtoVRRP2}

// span tracks the smallest and largest of a set of durations.
type span struct{ lo, hi time.Duration }

func (s *span) add(d time.Duration) {
	if s.lo == 0 && s.hi == 0 || d < s.lo {
		s.lo = d
	}
	s.hi = max(s.hi, d)
}

func (s span) String() string { return fmt.Sprintf("%v..%v", s.lo, s.hi) }

// TestElection: nodes started together elect the most preferred one, and
// nothing moves afterwards.
func TestElection(t *testing.T) {
	for _, p := range protos {
		for _, n := range []int{2, 3, 5} {
			t.Run(fmt.Sprintf("%v/%d", p, n), func(t *testing.T) {
				var took span
				for seed := range uint64(20) {
					ranks := ranksFor(seed, n)
					s := build(t, seed, p, ranks, nil)
					run(t, s, time.Minute)
					want := preferred(ranks, 0)
					if diff := cmp.Diff([]int{want}, s.Masters()); diff != "" {
						t.Fatalf("seed %d masters (-want +got):\n%s%s", seed, diff, dump(s.Transitions()))
					}
					if late := since(s, 10*time.Second); len(late) > 0 {
						t.Fatalf("seed %d: transitions in steady state:\n%s", seed, dump(late))
					}
					tr, _ := firstTo(s, 0, carp.Master)
					took.add(tr.At)
					// Nobody advertises before the first claim, so it
					// comes exactly one master-down interval after start.
					if md := masterDown(nodeCfg(p, want, 0, nil)); tr.At != md {
						t.Errorf("seed %d: elected at %v, want master-down %v", seed, tr.At, md)
					}
				}
				t.Logf("%v, %d nodes: one master elected at %v after start", p, n, took)
			})
		}
	}
}

// TestFailover: after the master crashes, the next preferred node takes
// over within its master-down interval after the last advert it heard.
func TestFailover(t *testing.T) {
	for _, p := range protos {
		for _, n := range []int{2, 3, 5} {
			t.Run(fmt.Sprintf("%v/%d", p, n), func(t *testing.T) {
				var took span
				var md time.Duration
				for seed := range uint64(20) {
					ranks := ranksFor(seed, n)
					s := build(t, seed, p, ranks, nil)
					// Crash at a seed-dependent point of the advert cycle.
					run(t, s, time.Minute+time.Duration(seed)*53*time.Millisecond)
					old, next := preferred(ranks, 0), preferred(ranks, 1)
					crashAt := s.Elapsed()
					s.Crash(old)
					run(t, s, 30*time.Second)
					if diff := cmp.Diff([]int{next}, s.Masters()); diff != "" {
						t.Fatalf("seed %d masters (-want +got):\n%s", seed, diff)
					}
					tr, _ := firstTo(s, crashAt, carp.Master)
					d := tr.At - crashAt
					took.add(d)
					// The last advert left at most one interval before the
					// crash and arrived at most maxDelay after it.
					md = masterDown(nodeCfg(p, next, 1, nil))
					lo, hi := md-interval(nodeCfg(p, old, 0, nil)), md+maxDelay
					if d < lo || d > hi {
						t.Errorf("seed %d: failover took %v, want %v..%v", seed, d, lo, hi)
					}
				}
				t.Logf("%v, %d nodes: failover %v after the crash (backup master-down %v)", p, n, took, md)
			})
		}
	}
}

// TestPartitionHeal: a partition elects a master on each side; after
// healing, one master remains within one advertisement interval of the
// preferred master (plus a round trip).
func TestPartitionHeal(t *testing.T) {
	for _, p := range protos {
		t.Run(p.String(), func(t *testing.T) {
			var took span
			for seed := range uint64(20) {
				ranks := ranksFor(seed, 3)
				s := build(t, seed, p, ranks, nil)
				run(t, s, 30*time.Second)
				a, b := preferred(ranks, 0), preferred(ranks, 1)
				var rest []int
				for i := range 3 {
					if i != a {
						rest = append(rest, i)
					}
				}
				s.Partition([]int{a}, rest)
				run(t, s, 20*time.Second)
				if diff := cmp.Diff(sorted(a, b), s.Masters()); diff != "" {
					t.Fatalf("seed %d partitioned masters (-want +got):\n%s", seed, diff)
				}
				run(t, s, time.Duration(seed)*71*time.Millisecond)
				healAt := s.Elapsed()
				s.Heal()
				run(t, s, 10*time.Second)
				if diff := cmp.Diff([]int{a}, s.Masters()); diff != "" {
					t.Fatalf("seed %d healed masters (-want +got):\n%s", seed, diff)
				}
				after := since(s, healAt)
				if len(after) != 1 || after[0].Node != b || after[0].To != carp.Backup {
					t.Fatalf("seed %d: want one step-down of node %d after healing, got:\n%s", seed, b, dump(after))
				}
				d := after[0].At - healAt
				took.add(d)
				if bound := interval(nodeCfg(p, a, 0, nil)) + 2*maxDelay; d > bound {
					t.Errorf("seed %d: one master %v after healing, want ≤ %v", seed, d, bound)
				}
			}
			t.Logf("%v: split brain resolved %v after healing", p, took)
		})
	}
}

func sorted(xs ...int) []int { slices.Sort(xs); return xs }

// TestPreemption: the preferred node comes back after a crash; it takes
// over again only if preemption is on.
func TestPreemption(t *testing.T) {
	for _, p := range protos {
		for _, pre := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/preempt=%v", p, pre), func(t *testing.T) {
				var took span
				for seed := range uint64(10) {
					s := build(t, seed, p, []int{0, 1}, func(c *carp.Config) { c.Preempt = pre })
					run(t, s, 30*time.Second)
					s.Crash(0)
					run(t, s, 30*time.Second+time.Duration(seed)*61*time.Millisecond)
					back := s.Elapsed()
					s.Restart(0)
					run(t, s, 10*time.Minute)
					if !pre {
						if diff := cmp.Diff([]int{1}, s.Masters()); diff != "" {
							t.Fatalf("seed %d masters without preempt (-want +got):\n%s", seed, diff)
						}
						if after := since(s, back); len(after) != 1 {
							t.Fatalf("seed %d: want only the restart's INIT→BACKUP, got:\n%s", seed, dump(after))
						}
						continue
					}
					if diff := cmp.Diff([]int{0}, s.Masters()); diff != "" {
						t.Fatalf("seed %d masters with preempt (-want +got):\n%s", seed, diff)
					}
					tr, _ := firstTo(s, back, carp.Master)
					d := tr.At - back
					took.add(d)
					// CARP preempts on the current master's next advert;
					// VRRP discards it and lets its own timer run out.
					bound := interval(nodeCfg(p, 1, 1, nil)) + maxDelay
					if p != carp.ProtoCARP {
						bound = masterDown(nodeCfg(p, 0, 0, nil))
					}
					if d > bound {
						t.Errorf("seed %d: took over %v after restart, want ≤ %v", seed, d, bound)
					}
				}
				if pre {
					t.Logf("%v: returning preferred node took over %v after restart", p, took)
				}
			})
		}
	}
}

// TestBowOut: a gracefully stopping master hands over at once (CARP
// 255/255) or after the backup's skew time (VRRP priority 0).
func TestBowOut(t *testing.T) {
	for _, p := range protos {
		t.Run(p.String(), func(t *testing.T) {
			var took span
			next := nodeCfg(p, 1, 1, nil)
			lo, hi := time.Duration(0), maxDelay
			if p != carp.ProtoCARP {
				lo, hi = skew(next), skew(next)+maxDelay
			}
			for seed := range uint64(10) {
				s := build(t, seed, p, []int{0, 1, 2}, nil)
				run(t, s, 30*time.Second+time.Duration(seed)*67*time.Millisecond)
				at := s.Elapsed()
				s.Shutdown(0)
				run(t, s, 20*time.Second)
				if diff := cmp.Diff([]int{1}, s.Masters()); diff != "" {
					t.Fatalf("seed %d masters (-want +got):\n%s", seed, diff)
				}
				tr, _ := firstTo(s, at, carp.Master)
				d := tr.At - at
				took.add(d)
				if d < lo || d > hi {
					t.Errorf("seed %d: handover took %v, want %v..%v\n%s", seed, d, lo, hi, dump(since(s, at)))
				}
			}
			t.Logf("%v: bow-out handover %v (a crash would take up to %v)", p, took, masterDown(next)+maxDelay)
		})
	}
}

// TestDemotion: demoting the master moves the role when the backup may
// take it, and lifting the demotion moves it back.
func TestDemotion(t *testing.T) {
	tests := []struct {
		name   string
		p      carp.Proto
		mod    func(*carp.Config)
		weight int
		moves  bool // the backup takes over
		back   bool // and hands back once the demotion is lifted
	}{
		{"carp skew, preempt", carp.ProtoCARP, func(c *carp.Config) { c.Preempt = true }, 240, true, true},
		{"carp skew, no preempt", carp.ProtoCARP, nil, 240, false, false},
		// OpenBSD: a more demoted master is replaced regardless of preempt,
		// but an equally demoted one is not.
		{"carp byte, no preempt", carp.ProtoCARP, func(c *carp.Config) { c.Demote = carp.DemoteByte }, 1, true, false},
		{"vrrp3, preempt", carp.ProtoVRRP3, nil, 100, true, true},
		{"vrrp3, no preempt", carp.ProtoVRRP3, func(c *carp.Config) { c.Preempt = false }, 100, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, 1, tt.p, []int{0, 1}, tt.mod)
			run(t, s, 30*time.Second+300*time.Millisecond)
			at := s.Elapsed()
			s.SetDemotion(0, tt.weight)
			run(t, s, 20*time.Second)
			want := []int{0}
			if tt.moves {
				want = []int{1}
			}
			if diff := cmp.Diff(want, s.Masters()); diff != "" {
				t.Fatalf("masters after demotion (-want +got):\n%s%s", diff, dump(since(s, at)))
			}
			if !tt.moves {
				return
			}
			tr, _ := firstTo(s, at, carp.Master)
			t.Logf("%s: role moved %v after demotion: %v", tt.name, tr.At-at, tr.Reason)
			lifted := s.Elapsed()
			s.SetDemotion(0, 0)
			run(t, s, 20*time.Second)
			back := []int{1}
			if tt.back {
				back = []int{0}
			}
			if diff := cmp.Diff(back, s.Masters()); diff != "" {
				t.Errorf("masters after lifting (-want +got):\n%s%s", diff, dump(since(s, lifted)))
			}
		})
	}
}

// TestEqualTiming: two CARP nodes with identical timing. With TieBreakIP
// the ucarp address rule leaves exactly one master at the first collision.
// Without it both step down (BSD rule), their timers stay in step, and
// they flap until the jitter random walk separates the timers by more
// than the link delay; the figures are logged, not judged.
func TestEqualTiming(t *testing.T) {
	for seed := range uint64(10) {
		s := build(t, seed, carp.ProtoCARP, []int{0, 0}, func(c *carp.Config) { c.TieBreakIP = true })
		run(t, s, 10*time.Minute)
		// Reversed, 198.18.0.10 is 10.0.18.198 < 11.0.18.198.
		if diff := cmp.Diff([]int{0}, s.Masters()); diff != "" {
			t.Fatalf("seed %d TieBreakIP masters (-want +got):\n%s", seed, diff)
		}
		if late := since(s, 10*time.Second); len(late) > 0 {
			t.Fatalf("seed %d: TieBreakIP still moving:\n%s", seed, dump(late))
		}
	}
	var settled []string
	for seed := range uint64(10) {
		s := build(t, seed, carp.ProtoCARP, []int{0, 0}, nil)
		run(t, s, time.Hour)
		log := s.Transitions()
		last := log[len(log)-1].At
		if last > 59*time.Minute {
			settled = append(settled, fmt.Sprintf("flapping after 1h (%d transitions)", len(log)))
			continue
		}
		settled = append(settled, fmt.Sprintf("%v (%d transitions)", last.Round(time.Second), len(log)))
	}
	t.Logf("equal timing without TieBreakIP, one master settled after: %v", settled)
}

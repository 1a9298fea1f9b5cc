package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/google/go-cmp/cmp"
)

// subSecond is a pair at the fastest timings docs/config.md recommends
// for a carpd-only pair: CARP advbase 0 with advskew 26 and 92 (about
// 0.1 s and 0.36 s), VRRPv3 at 50 ms with priorities 200 and 100.
func subSecond(p carp.Proto, i int, preempt bool) carp.Config {
	c := carp.DefaultConfig(p, 42)
	c.Addr = addr(i)
	c.Preempt = preempt
	if p == carp.ProtoCARP {
		c.AdvBase, c.AdvSkew = 0, []uint8{26, 92}[i]
	} else {
		c.Interval, c.Priority = 50*time.Millisecond, []uint8{200, 100}[i]
	}
	return c
}

// TestSubSecondHolds: at sub-second timers, with the delay of a loaded
// host (up to 20 ms of jitter on every advert), a pair elects once and
// then nothing moves for ten minutes; the backup takes over within its
// master-down interval of the master's crash, and a returning preferred
// node takes the role back with preemption. At advbase 0 CARP's
// "master will time out" shortcut used to compare with deadratio ×
// advbase = 0, and the backup claimed on every advert.
func TestSubSecondHolds(t *testing.T) {
	loaded := Link{Delay: time.Millisecond, Jitter: 20 * time.Millisecond}
	for _, p := range []carp.Proto{carp.ProtoCARP, carp.ProtoVRRP3} {
		for _, pre := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/preempt=%v", p, pre), func(t *testing.T) {
				var took span
				for seed := range uint64(5) {
					s := New(seed, epoch)
					s.SetDefaultLink(loaded)
					for i := range 2 {
						if _, err := s.AddNode(subSecond(p, i, pre)); err != nil {
							t.Fatal(err)
						}
					}
					run(t, s, 10*time.Minute)
					if diff := cmp.Diff([]int{0}, s.Masters()); diff != "" {
						t.Fatalf("seed %d masters (-want +got):\n%s", seed, diff)
					}
					// Jitter may make both claim at the start; after that
					// nothing moves.
					if late := since(s, time.Second); len(late) > 0 {
						t.Fatalf("seed %d: %d transitions after the election:\n%s",
							seed, len(late), dump(late[:min(len(late), 20)]))
					}
					crash := s.Elapsed()
					s.Crash(0)
					run(t, s, 10*time.Second)
					tr, ok := firstTo(s, crash, carp.Master)
					if !ok || tr.Node != 1 {
						t.Fatalf("seed %d: no takeover by node 1 after the crash:\n%s", seed, dump(since(s, crash)))
					}
					bound := masterDown(subSecond(p, 1, pre)) + 21*time.Millisecond
					d := tr.At - crash
					took.add(d)
					if d > bound {
						t.Errorf("seed %d: took over %v after the crash, want ≤ %v", seed, d, bound)
					}
					back := s.Elapsed()
					s.Restart(0)
					run(t, s, time.Minute)
					// CARP at advbase 0 preempts even without preemption:
					// the returning node's master-down interval (advskew
					// 26 / 256 s) is shorter than the master's advert
					// interval (92 / 256 s), so its timer fires before it
					// hears one, as on the BSDs and ucarp.
					pre := pre || p == carp.ProtoCARP
					want := []int{1}
					if pre {
						want = []int{0}
					}
					if diff := cmp.Diff(want, s.Masters()); diff != "" {
						t.Fatalf("seed %d masters after the return (-want +got):\n%s%s", seed, diff, dump(since(s, back)))
					}
					moves := 1 // the returning node's INIT→BACKUP
					if pre {
						moves = 3 // and the preemption: BACKUP→MASTER, MASTER→BACKUP
					}
					if after := since(s, back); len(after) != moves {
						t.Fatalf("seed %d: %d transitions after the return, want %d:\n%s", seed, len(after), moves, dump(after))
					}
				}
				t.Logf("%v: no spurious transition in 10 min with 20 ms jitter; takeover after a crash %v", p, took)
			})
		}
	}
}

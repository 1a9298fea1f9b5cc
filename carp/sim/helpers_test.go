package sim

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// lan is the link used unless a test says otherwise: a switched LAN with
// 1 ms ± 0.5 ms latency.
var lan = Link{Delay: time.Millisecond, Jitter: 500 * time.Microsecond}

// maxDelay is the worst one-way delay on lan.
const maxDelay = 1500 * time.Microsecond

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}) }

// rank is a node's place in the preference order, 0 = most preferred.
// CARP maps it to advskew 20·rank, VRRP to priority 200 − 10·rank.
func nodeCfg(p carp.Proto, i, rank int, mod func(*carp.Config)) carp.Config {
	c := carp.DefaultConfig(p, 42)
	c.Addr = addr(i)
	if p == carp.ProtoCARP {
		c.AdvSkew = uint8(20 * rank)
	} else {
		c.Priority = uint8(200 - 10*rank)
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

// build makes a simulation of n nodes where node i has rank ranks[i].
func build(t testing.TB, seed uint64, p carp.Proto, ranks []int, mod func(*carp.Config)) *Sim {
	t.Helper()
	s := New(seed, epoch)
	s.SetDefaultLink(lan)
	for i, r := range ranks {
		if _, err := s.AddNode(nodeCfg(p, i, r, mod)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// ranksFor returns a seed-dependent permutation of 0..n-1, so the most
// preferred node is not always the first one added.
func ranksFor(seed uint64, n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = (i + int(seed)) % n
	}
	return r
}

// preferred returns the node with rank k among the running ones.
func preferred(ranks []int, k int) int { return slices.Index(ranks, k) }

func run(t testing.TB, s *Sim, d time.Duration) {
	t.Helper()
	if err := s.RunFor(d); err != nil {
		t.Fatal(err)
	}
}

// since returns the transitions at or after t.
func since(s *Sim, at time.Duration) []Transition {
	log := s.Transitions()
	i, _ := slices.BinarySearchFunc(log, at, func(tr Transition, at time.Duration) int {
		return cmp.Compare(tr.At, at)
	})
	return log[i:]
}

// firstTo returns the first transition at or after at into state to.
func firstTo(s *Sim, at time.Duration, to carp.State) (Transition, bool) {
	for _, tr := range since(s, at) {
		if tr.To == to {
			return tr, true
		}
	}
	return Transition{}, false
}

// masterDown is the master-down interval of a node configured as c, the
// figure the bounds below are derived from.
func masterDown(c carp.Config) time.Duration {
	if c.Proto == carp.ProtoCARP {
		// FreeBSD/ucarp formula, the default: 3·advbase + advskew/256.
		return 3*time.Duration(c.AdvBase)*time.Second + time.Duration(c.AdvSkew)*time.Second/256
	}
	return 3*c.Interval + skew(c)
}

// skew is the VRRPv3 Skew_Time of a node configured as c.
func skew(c carp.Config) time.Duration {
	return time.Duration(256-int(c.Priority)) * c.Interval / 256
}

// interval is how often a master configured as c advertises.
func interval(c carp.Config) time.Duration {
	if c.Proto == carp.ProtoCARP {
		return time.Duration(c.AdvBase)*time.Second + time.Duration(c.AdvSkew)*time.Second/256
	}
	return c.Interval
}

func dump(log []Transition) string {
	var out string
	for _, tr := range log {
		out += fmt.Sprintln(tr)
	}
	return out
}

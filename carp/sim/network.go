package sim

import (
	"time"

	"github.com/carpd/carpd/carp"
)

// Link is the behaviour of the path from one node to another.
type Link struct {
	Loss   float64       // probability that one advert copy is lost, 0..1
	Delay  time.Duration // fixed one-way delay
	Jitter time.Duration // extra delay drawn uniformly from [0, Jitter)
}

// network holds the links and the current partition.
type network struct {
	def   Link
	links map[[2]int]Link // directed, from → to; absent means def
	group []int           // partition group per node; nil when healed
}

// SetDefaultLink sets the link used between nodes without their own.
func (s *Sim) SetDefaultLink(l Link) { s.net.def = l }

// SetLink sets the link between a and b, both directions.
func (s *Sim) SetLink(a, b int, l Link) {
	s.net.links[[2]int{a, b}] = l
	s.net.links[[2]int{b, a}] = l
}

// Partition splits the segment: nodes talk only within their group. A node
// in no group is cut off from everyone.
func (s *Sim) Partition(groups ...[]int) {
	g := make([]int, len(s.nodes))
	for i := range g {
		g[i] = -1 - i // alone unless listed
	}
	for k, members := range groups {
		for _, n := range members {
			g[n] = k
		}
	}
	s.net.group = g
}

// Heal removes the partition.
func (s *Sim) Heal() { s.net.group = nil }

// connected reports whether a copy from a can reach b. Nodes added after
// the partition are connected to everyone.
func (n *network) connected(a, b int) bool {
	if n.group == nil || a >= len(n.group) || b >= len(n.group) {
		return true
	}
	return n.group[a] == n.group[b]
}

func (n *network) link(a, b int) Link {
	if l, ok := n.links[[2]int{a, b}]; ok {
		return l
	}
	return n.def
}

// broadcast sends one copy of ad to every other running, connected node,
// as multicast to 224.0.0.18 with TTL 255 would.
func (s *Sim) broadcast(from int, ad carp.Advert) {
	s.stats.Sent++
	ad.TTL = 255
	for to, nd := range s.nodes {
		if to == from || !nd.up || !s.net.connected(from, to) {
			continue
		}
		l := s.net.link(from, to)
		if l.Loss > 0 && s.rng.Float64() < l.Loss {
			s.stats.Lost++
			continue
		}
		delay := l.Delay
		if l.Jitter > 0 {
			delay += time.Duration(s.rng.Int64N(int64(l.Jitter)))
		}
		s.push(event{at: s.now.Add(delay), node: to, epoch: nd.epoch, ad: ad})
	}
}

// event is a delivery of ad to node, or a timer of node.
type event struct {
	at    time.Time
	seq   uint64
	node  int
	epoch uint64
	timer bool
	ad    carp.Advert
}

func (e *event) before(o *event) bool {
	if !e.at.Equal(o.at) {
		return e.at.Before(o.at)
	}
	return e.seq < o.seq
}

// eventHeap is a binary min-heap on (at, seq). It is typed rather than
// container/heap so queuing an event does not box it.
type eventHeap []event

func (h *eventHeap) push(ev event) {
	*h = append(*h, ev)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].before(&q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].before(&q[m]) {
			m = l
		}
		if r < len(q) && q[r].before(&q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/carpd/carpd/carp"
)

// DefaultMaxEvents bounds one RunFor call when Sim.MaxEvents is 0. One
// simulated hour of two nodes at one advert a second takes about 10,000.
const DefaultMaxEvents = 10_000_000

// ErrRunaway is returned by RunFor when it hits its event bound.
var ErrRunaway = errors.New("simulation exceeded its event bound")

// Transition is one state change of one node.
type Transition struct {
	At       time.Duration // since the start of the simulation
	Node     int
	From, To carp.State
	Reason   string
}

func (t Transition) String() string {
	return fmt.Sprintf("%v node %d %v→%v (%s)", t.At, t.Node, t.From, t.To, t.Reason)
}

// Stats counts what happened to advertisements.
type Stats struct {
	Sent      int // adverts sent, one per ActSend
	Delivered int // copies handed to a receiving machine
	Lost      int // copies lost on a link
	Dropped   int // copies the receiving machine rejected with an error
	Announces int // ActAnnounce actions
}

// Sim is a simulated segment of nodes. Its zero value is not usable; call
// New. A Sim is not safe for concurrent use.
type Sim struct {
	// MaxEvents bounds the events one RunFor processes; 0 means
	// DefaultMaxEvents.
	MaxEvents int

	rng    *rand.Rand
	start  time.Time
	now    time.Time
	seq    uint64
	events eventHeap
	nodes  []*node
	net    network
	log    []Transition
	stats  Stats
}

// node is one simulated host running one machine.
type node struct {
	cfg     carp.Config
	m       *carp.Machine
	up      bool
	epoch   uint64    // bumped when the node goes down: stale events die
	timerAt time.Time // earliest pending timer event, zero if none
}

// New returns an empty simulation whose clock reads start.
func New(seed uint64, start time.Time) *Sim {
	return &Sim{
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		start: start,
		now:   start,
		net:   network{links: map[[2]int]Link{}},
	}
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time { return s.now }

// Elapsed returns the simulated time since the start.
func (s *Sim) Elapsed() time.Duration { return s.now.Sub(s.start) }

// AddNode creates a machine for cfg and starts it now. Nodes are numbered
// from 0 in the order they are added.
func (s *Sim) AddNode(cfg carp.Config) (int, error) {
	m, err := carp.NewMachine(cfg)
	if err != nil {
		return 0, err
	}
	n := &node{cfg: cfg, m: m, up: true}
	s.nodes = append(s.nodes, n)
	id := len(s.nodes) - 1
	s.handle(id, m.Start(s.now))
	return id, nil
}

// Crash stops node n without a word: no bow-out, timers and in-flight
// adverts to it are dropped. Adverts it already sent still arrive. The
// log records it as a transition to INIT with reason "crash".
func (s *Sim) Crash(n int) {
	nd := s.nodes[n]
	if !nd.up {
		return
	}
	s.record(n, nd.m.State(), carp.Init, "crash")
	s.down(nd)
}

// Shutdown stops node n gracefully: its machine bows out first.
func (s *Sim) Shutdown(n int) {
	nd := s.nodes[n]
	if !nd.up {
		return
	}
	s.handle(n, nd.m.Shutdown(s.now))
	s.down(nd)
}

// Restart brings a stopped node back with a fresh machine (no demotion),
// as a restarted daemon would.
func (s *Sim) Restart(n int) {
	nd := s.nodes[n]
	if nd.up {
		return
	}
	nd.m, _ = carp.NewMachine(nd.cfg) // validated by AddNode
	nd.up = true
	s.handle(n, nd.m.Start(s.now))
}

// SetDemotion sets node n's demotion weight now.
func (s *Sim) SetDemotion(n, weight int) {
	if nd := s.nodes[n]; nd.up {
		s.handle(n, nd.m.SetDemotion(s.now, weight))
	}
}

// State returns node n's state; a stopped node is in INIT.
func (s *Sim) State(n int) carp.State {
	if nd := s.nodes[n]; nd.up {
		return nd.m.State()
	}
	return carp.Init
}

// Masters returns the running nodes in MASTER, in node order.
func (s *Sim) Masters() []int {
	var out []int
	for i, nd := range s.nodes {
		if nd.up && nd.m.State() == carp.Master {
			out = append(out, i)
		}
	}
	return out
}

// Transitions returns every state change so far, in order. The slice is
// shared; do not modify it.
func (s *Sim) Transitions() []Transition { return s.log }

// Stats returns the advert counters.
func (s *Sim) Stats() Stats { return s.stats }

// RunFor advances the clock by d, running every event due until then. It
// returns ErrRunaway, with the clock at the last event run, if more than
// MaxEvents are due.
func (s *Sim) RunFor(d time.Duration) error {
	end := s.now.Add(d)
	limit := s.MaxEvents
	if limit <= 0 {
		limit = DefaultMaxEvents
	}
	for n := 0; len(s.events) > 0 && !s.events[0].at.After(end); n++ {
		if n >= limit {
			return fmt.Errorf("running to %v: %w (%d events)", end.Sub(s.start), ErrRunaway, limit)
		}
		ev := s.events.pop()
		s.now = ev.at
		s.run(ev)
	}
	s.now = end
	return nil
}

// run dispatches one event to its node, unless the node went down or the
// event was superseded since it was scheduled.
func (s *Sim) run(ev event) {
	nd := s.nodes[ev.node]
	if !nd.up || ev.epoch != nd.epoch {
		return
	}
	if !ev.timer {
		acts, err := nd.m.Receive(s.now, ev.ad)
		if err != nil {
			s.stats.Dropped++
			return
		}
		s.stats.Delivered++
		s.handle(ev.node, acts)
		return
	}
	if !ev.at.Equal(nd.timerAt) {
		return
	}
	nd.timerAt = time.Time{}
	s.handle(ev.node, nd.m.Tick(s.now))
}

// handle carries out a machine's actions, then makes sure its next
// deadline has a timer event.
func (s *Sim) handle(n int, acts []carp.Action) {
	nd := s.nodes[n]
	for _, a := range acts {
		switch a.Kind {
		case carp.ActSend:
			s.broadcast(n, a.Advert)
		case carp.ActState:
			s.record(n, a.From, a.To, a.Reason)
		case carp.ActAnnounce:
			s.stats.Announces++
		}
	}
	if !nd.up {
		return
	}
	// Timer events are lazy: one stays queued at the earliest deadline
	// seen. If the deadline has moved later when it fires, Tick is a
	// no-op and this reschedules; an earlier deadline queues a new event.
	d := nd.m.Deadline()
	if !d.IsZero() && (nd.timerAt.IsZero() || d.Before(nd.timerAt)) {
		nd.timerAt = d
		s.push(event{at: d, node: n, epoch: nd.epoch, timer: true})
	}
}

// down marks a node stopped and invalidates its pending events.
func (s *Sim) down(nd *node) {
	nd.up = false
	nd.epoch++
	nd.timerAt = time.Time{}
}

func (s *Sim) record(n int, from, to carp.State, reason string) {
	s.log = append(s.log, Transition{At: s.now.Sub(s.start), Node: n, From: from, To: to, Reason: reason})
}

func (s *Sim) push(ev event) {
	s.seq++
	ev.seq = s.seq
	s.events.push(ev)
}

package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// jobKind says what an executor job does.
type jobKind uint8

const (
	// jobPromote runs the promotion steps after entering MASTER.
	jobPromote jobKind = iota + 1
	// jobDemote runs the demotion steps after entering BACKUP or INIT
	// (also for an INIT that never was MASTER, to notify).
	jobDemote
	// jobAnnounce sends one round of gratuitous ARP / NA while MASTER.
	jobAnnounce
	// jobEnsure puts back a VIP that disappeared while MASTER.
	jobEnsure
	// jobSpec switches to a reloaded configuration, adding and removing
	// VIPs while MASTER.
	jobSpec
)

// job is one unit of executor work, queued by the router goroutine.
type job struct {
	kind     jobKind
	from, to carp.State
	reason   string
	// notify is the keepalived state word for the notify hook and
	// CARPD_STATE: MASTER, BACKUP, FAULT or STOP.
	notify string
	// downHooks says whether the down script runs (after MASTER, and on
	// the first INIT → BACKUP unless Neutral).
	downHooks bool
	prio      int // notify's priority argument
	queued    time.Time
	vip       netip.Prefix       // jobEnsure
	seq       uint64             // the transition's number in the router's record
	spec      *config.Router     // jobSpec
	user      *config.ScriptUser // jobSpec
	// claims, on leaving MASTER for BACKUP or on shutdown, watches for
	// the new master's gratuitous ARP until claimsUntil (await-claim);
	// nil without.
	claims      ClaimWatch
	claimsUntil time.Time
}

// executor runs one router's transition steps in order on its own
// goroutine, so the router goroutine never waits for a hook or netlink.
type executor struct {
	log   *slog.Logger
	addrs AddrSet
	ann   Announcer
	label string
	ctr   *counters
	// ctx ends running hooks; it is cancelled only when shutdown runs out
	// of time, so down hooks and notify STOP still run on a normal stop.
	ctx context.Context
	// claimed reports a promotion's VIP step outcome to the router.
	claimed func(ok bool)
	// vlink sets the vmac child up or down; nil without vmac.
	vlink func(up bool) error
	// bsvc adds the broker's steps (DNAT, conntrack, restart); nil
	// without a supervised broker.
	bsvc BrokerSteps
	rec  *record // transition history for status; nil records nothing
	// hookFails counts failed hook runs for status.
	hookFails hookFailures

	mu     sync.Mutex
	q      []job
	closed bool
	wake   chan struct{}
	done   chan struct{}
	// hookStop ends the running hook once a newer transition is queued
	// and supersededGrace has passed (supersede); nil between hooks.
	hookStop  context.CancelCauseFunc
	hookTimer *time.Timer

	// Owned by the executor goroutine.
	spec    *config.Router
	user    *config.ScriptUser // who hooks run as; nil = carpd's own user
	holding bool               // VIPs should be on the interface (MASTER)
	rounds  []time.Time        // pending announce rounds, ascending
	refresh time.Time          // next periodic announce; zero = off
}

// newExecutor returns an executor for spec; run starts it.
func newExecutor(ctx context.Context, log *slog.Logger, spec *config.Router, addrs AddrSet, ann Announcer,
	label string, ctr *counters, claimed func(bool)) *executor {
	return &executor{
		log: log, addrs: addrs, ann: ann, label: label, ctr: ctr, ctx: ctx, claimed: claimed,
		spec: spec, wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// enqueue adds j to the queue; it never blocks. Jobs after close are
// dropped.
func (e *executor) enqueue(j job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		if j.claims != nil {
			j.claims.Close()
		}
		return
	}
	if j.kind == jobPromote || j.kind == jobDemote {
		j.seq = e.rec.begin(j)
		e.supersede()
	}
	e.q = append(e.q, j)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// supersededGrace is how long a hook may go on once a newer transition is
// queued behind it: hooks run one at a time, so a hung one would hold the
// next transition's steps, a demotion's VIP and DNAT removal included,
// for up to hooks.timeout (two MASTERs for that long after a preemption).
// A hook that finishes within the grace is not disturbed.
const supersededGrace = 2 * time.Second

// errSuperseded is the cause of a hook ended by supersede.
var errSuperseded = errors.New("a newer transition was queued")

// supersede arms the running hook's end, if a hook runs; e.mu is held.
func (e *executor) supersede() {
	if e.hookStop == nil || e.hookTimer != nil {
		return
	}
	stop := e.hookStop
	e.hookTimer = time.AfterFunc(supersededGrace, func() { stop(errSuperseded) })
}

// transitionQueued reports whether a transition waits in the queue; e.mu
// is held.
func (e *executor) transitionQueued() bool {
	return slices.ContainsFunc(e.q, func(j job) bool { return j.kind == jobPromote || j.kind == jobDemote })
}

// hookContext is the context of a hook about to run, ended after the
// grace when a newer transition is (or gets) queued; done releases it.
func (e *executor) hookContext() (ctx context.Context, done func()) {
	ctx, stop := context.WithCancelCause(e.ctx)
	e.mu.Lock()
	e.hookStop = stop
	if e.transitionQueued() {
		e.supersede()
	}
	e.mu.Unlock()
	return ctx, func() {
		e.mu.Lock()
		if e.hookTimer != nil {
			e.hookTimer.Stop()
		}
		e.hookStop, e.hookTimer = nil, nil
		e.mu.Unlock()
		stop(nil)
	}
}

// close makes run return once the queued jobs are done.
func (e *executor) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run executes jobs and timed announce rounds until closed and drained.
func (e *executor) run() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Stop()
		if next := e.nextRound(); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-e.wake:
			if !e.drain() {
				return
			}
		case <-timer.C:
			e.announceDue(time.Now())
		}
	}
}

// drain runs every queued job and reports whether to keep running.
func (e *executor) drain() bool {
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			closed := e.closed
			e.mu.Unlock()
			return !closed
		}
		j := e.q[0]
		e.q = e.q[1:]
		e.mu.Unlock()
		e.do(j)
	}
}

// do runs one job.
func (e *executor) do(j job) {
	switch j.kind {
	case jobPromote:
		e.transition(j, e.promotion())
	case jobDemote:
		e.holding = false
		e.rounds, e.refresh = nil, time.Time{}
		e.transition(j, e.demotion())
	case jobAnnounce:
		if e.holding && e.spec.GARP.Repeat > 0 {
			e.announce(time.Now(), j.reason)
		}
	case jobEnsure:
		e.ensure(j.vip)
	case jobSpec:
		e.user = j.user
		e.respec(j.spec)
	}
}

// transition runs steps for j, each timed and logged at debug level; a
// failing step is logged with its name and does not stop the others. One
// info line reports the transition with its total time.
func (e *executor) transition(j job, steps []step) {
	start := time.Now()
	e.rec.start(j.seq, start.Sub(j.queued))
	var failed []string
	for _, s := range steps {
		t := time.Now()
		err := s.run(&j)
		took := time.Since(t)
		e.rec.step(j.seq, s.name, took, err)
		if err != nil {
			failed = append(failed, s.name)
			e.log.Error("transition step failed", "step", s.name, "took", took, "to", j.to.String(),
				"error", err)
			continue
		}
		e.log.Debug("transition step", "step", s.name, "took", took, "to", j.to.String())
	}
	took := time.Since(start)
	e.rec.finish(j.seq, took)
	attrs := []any{"from", j.from.String(), "to", j.to.String(), "state", j.notify, "reason", j.reason,
		"took", took, "queued", start.Sub(j.queued)}
	if len(failed) > 0 {
		e.log.Warn("transition done with failures", append(attrs, "failed", failed)...)
		return
	}
	e.log.Info("transition", attrs...)
}

// nextRound is when the next timed announce is due, or zero.
func (e *executor) nextRound() time.Time {
	next := e.refresh
	if len(e.rounds) > 0 && (next.IsZero() || e.rounds[0].Before(next)) {
		next = e.rounds[0]
	}
	return next
}

// announceDue sends the announce rounds that are due at now.
func (e *executor) announceDue(now time.Time) {
	if !e.holding {
		e.rounds, e.refresh = nil, time.Time{}
		return
	}
	due := false
	for len(e.rounds) > 0 && !e.rounds[0].After(now) {
		e.rounds = e.rounds[1:]
		due = true
	}
	if !e.refresh.IsZero() && !e.refresh.After(now) {
		e.refresh = now.Add(e.spec.GARP.Refresh)
		due = true
	}
	if due {
		e.announce(now, "scheduled")
	}
}

// schedule plans the announce rounds after the first of a claim at now:
// the rest of the burst, the delayed burst and the periodic refresh.
func (e *executor) schedule(now time.Time) {
	g := e.spec.GARP
	e.rounds = e.rounds[:0]
	for i := 1; i < g.Repeat; i++ {
		e.rounds = append(e.rounds, now.Add(time.Duration(i)*g.Interval))
	}
	if g.Delay > 0 {
		for i := range g.Repeat {
			e.rounds = append(e.rounds, now.Add(g.Delay+time.Duration(i)*g.Interval))
		}
	}
	slices.SortFunc(e.rounds, func(a, b time.Time) int { return a.Compare(b) })
	e.refresh = time.Time{}
	if g.Refresh > 0 && g.Repeat > 0 {
		e.refresh = now.Add(g.Refresh)
	}
}

// announce sends one round for every VIP and counts it.
func (e *executor) announce(now time.Time, why string) error {
	err := e.ann.Announce(vipAddrs(e.spec))
	if err != nil {
		e.log.Warn("announcing VIPs", "reason", why, "error", err)
		return err
	}
	e.ctr.announcements.Add(1)
	e.log.Debug("announced VIPs", "reason", why, "took", time.Since(now))
	return nil
}

// ensure puts vip back if we hold the VIPs and it is one of ours.
func (e *executor) ensure(vip netip.Prefix) {
	if !e.holding || e.spec.VIPByScripts || !slices.Contains(e.spec.VIPs, vip) {
		return
	}
	if e.vlink != nil {
		// Whoever removed the VIP from the vmac child may have set it
		// down as well.
		if err := e.vlink(true); err != nil {
			e.log.Error("setting the vmac interface up", "error", err)
		}
	}
	if err := e.addrs.Add(vip, e.label); err != nil {
		e.log.Error("putting back VIP removed behind our back", "vip", vip.String(), "error", err)
		return
	}
	e.log.Warn("VIP was removed behind our back while MASTER; put it back", "vip", vip.String())
	e.announce(time.Now(), "VIP put back")
}

// respec switches to a reloaded spec; while holding the VIPs it adds the
// new ones (and announces them) and removes those no longer configured.
func (e *executor) respec(n *config.Router) {
	old := e.spec
	e.spec = n
	if !e.holding {
		return
	}
	var added []netip.Addr
	if !n.VIPByScripts {
		for _, p := range n.VIPs {
			if slices.Contains(old.VIPs, p) {
				continue
			}
			if err := e.addrs.Add(p, e.label); err != nil {
				e.log.Error("adding reloaded VIP", "vip", p.String(), "error", err)
				continue
			}
			added = append(added, p.Addr())
		}
	}
	if !old.VIPByScripts {
		for _, p := range old.VIPs {
			if slices.Contains(n.VIPs, p) {
				continue
			}
			if err := e.addrs.Remove(p); err != nil {
				e.log.Error("removing unconfigured VIP", "vip", p.String(), "error", err)
			}
		}
	}
	if len(added) > 0 && n.GARP.Repeat > 0 {
		if err := e.ann.Announce(added); err != nil {
			e.log.Warn("announcing reloaded VIPs", "error", err)
		} else {
			e.ctr.announcements.Add(1)
		}
	}
}

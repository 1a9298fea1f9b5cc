package daemon

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/link"
	"github.com/carpd/carpd/internal/status"
)

// claimFailWeight is the demotion applied while a claim's VIPs could not be
// added: large enough to lose every comparison (CARP skew clamps at 240,
// VRRP priority at 1), so a healthy peer takes over.
const claimFailWeight = 255

// maxManual caps the manual demotion counter, like OpenBSD's 8-bit
// carpdemote counter.
const maxManual = 255

// router runs one virtual router. The fields below the line belong to
// whoever holds mu: the router goroutine while it handles a queued event,
// or the socket reader or the timer handling an advert or an expiry
// inline (tryInline); ctl funcs run on the router goroutine.
type router struct {
	d    *Daemon
	base *config.Router // the spec it started with: name, iface, proto, id never change
	log  *slog.Logger
	sock *socket
	// vsend sends the adverts from the vmac child, so that they carry the
	// virtual MAC (RFC 5798 §7.3); nil without vmac. While the child is
	// down (before the promotion's steps set it up, or after a demotion)
	// the adverts go out of the shared socket instead.
	vsend   PacketWriter
	ctr     *counters
	exec    *executor
	rp      *replay
	adverts chan carp.Advert
	peerIn  chan peerBeat // the peer's heartbeats (heartbeat.go)
	ctl     chan func(time.Time)
	tick    chan struct{} // an expiry of the timer, when not handled inline
	done    chan struct{}
	// pending counts the events queued on the channels above and not
	// yet handled; an event is handled inline only when it is zero, so
	// it never overtakes an earlier one.
	pending atomic.Int32

	mu        sync.Mutex
	live      bool // booted and not quit: events may be handled inline
	timer     routerTimer
	spec      *config.Router
	user      *config.ScriptUser // who track scripts run as; nil = carpd's own user
	m         *carp.Machine
	enc       *encoder
	first     bool           // the next INIT → BACKUP is the first
	faults    map[fault]bool // why we stay in INIT (link down, tracker)
	manual    int            // carpd demote counter, 0..maxManual
	track     map[string]int // demotion of failed trackers by name
	claimFail bool
	claimLift *time.Timer
	scripts   *scriptTrackers
	quit      bool
	// claims is the watch openClaims opened for the next demotion job
	// of a MASTER, until claimsUntil.
	claims      ClaimWatch
	claimsUntil time.Time
	hb          hbState

	smu  sync.Mutex
	snap snapshot
	rec  *record // heard advert, transition history
}

// snapshot is what status shows of a router between events.
type snapshot struct {
	state   carp.State
	since   time.Time
	reason  string
	master  netip.Addr
	adv     carp.Advert
	manual  int
	track   int
	claim   bool
	faults  []string
	vips    []string
	tracked []string // interfaces of TrackInterfaces

	// The heartbeat's view (heartbeat.go peerSnap).
	peerOn    bool
	peer      status.Peer
	peerAdv   carp.Advert
	peerStale time.Duration
	dualSince time.Time
}

// post runs f on the router goroutine; it returns false if the router has
// stopped.
func (r *router) post(f func(time.Time)) bool {
	r.pending.Add(1)
	select {
	case r.ctl <- f:
		return true
	case <-r.done:
		r.pending.Add(-1)
		return false
	}
}

// tryInline takes mu for an event that the caller's goroutine then
// handles itself, followed by settle and mu.Unlock. It succeeds only when
// the router is idle, running and has nothing queued. Why: handing every
// advert and expiry over to the router goroutine woke a second thread
// (the runtime's wakep) for a few µs of work, about 2.6 thread wakeups
// per advert against 1 handled inline (docs/daemon.md, "Cost of an
// advertisement"). Events of the router stay one at a time and in order:
// a busy router, or one with events queued, gets this one queued too.
func (r *router) tryInline() bool {
	if r.pending.Load() != 0 || !r.mu.TryLock() {
		return false
	}
	// Queued events are counted before they are sent and uncounted
	// under mu once handled, so this check under mu is exact.
	if r.pending.Load() == 0 && r.live {
		return true
	}
	r.mu.Unlock()
	return false
}

// deliver hands a decoded advert to the router without blocking: it is
// handled at once if the router is idle, else queued.
func (r *router) deliver(ad carp.Advert) bool {
	if r.tryInline() {
		r.receive(time.Now(), ad)
		r.settle()
		r.mu.Unlock()
		return true
	}
	r.pending.Add(1)
	select {
	case r.adverts <- ad:
		return true
	default:
		r.pending.Add(-1)
		return false
	}
}

// expired is the timer's callback: it runs what is due at once if the
// router is idle, else queues a tick.
func (r *router) expired() {
	if r.tryInline() {
		r.timerFired(time.Now())
		r.settle()
		r.mu.Unlock()
		return
	}
	r.pending.Add(1)
	select {
	case r.tick <- struct{}{}:
	default:
		// A tick is queued already and runs whatever is due.
		r.pending.Add(-1)
	}
}

// settle ends an event, under mu: it refreshes the status snapshot and
// re-arms the timer for the next deadline.
func (r *router) settle() {
	r.publish()
	if r.quit {
		return
	}
	dl := r.wake()
	switch {
	case dl.IsZero():
		r.timer.Stop()
	case r.m.State() == carp.Master && dl.Equal(r.m.Deadline()):
		// A MASTER's next deadlines are one interval apart
		// (Machine.Tick): a periodic timer need not be re-armed for
		// each advert.
		r.timer.Set(dl, r.m.AdvInterval())
	default:
		r.timer.Set(dl, 0)
	}
}

// run is the router goroutine: it boots the router, then handles the
// events that were not handled inline.
func (r *router) run() {
	defer close(r.done)
	r.mu.Lock()
	r.timer = newRouterTimer(r.d.net, r.expired)
	r.boot(time.Now())
	r.settle()
	r.live = true
	r.mu.Unlock()
	r.rec.markReady()
	for r.step() {
	}
	r.timer.Close()
}

// step waits for one queued event and handles it; it returns false once
// the router has quit.
func (r *router) step() bool {
	select {
	case <-r.tick:
		r.mu.Lock()
		r.timerFired(time.Now())
	case ad := <-r.adverts:
		r.mu.Lock()
		r.receive(time.Now(), ad)
	case pb := <-r.peerIn:
		r.mu.Lock()
		r.peerBeat(time.Now(), pb)
	case f := <-r.ctl:
		r.mu.Lock()
		f(time.Now())
		// A control request can make us MASTER or BACKUP.
		r.split(time.Now())
	}
	r.pending.Add(-1)
	r.settle()
	quit := r.quit
	if quit {
		r.live = false
	}
	r.mu.Unlock()
	return !quit
}

// boot takes the initial link and tracker states, then starts the machine
// unless a fault holds it in INIT.
func (r *router) boot(now time.Time) {
	r.first = true
	if up, err := r.d.net.LinkUp(r.spec.Iface); err == nil && !up && !r.spec.IgnoreIfState {
		r.faults[faultLinkDown] = true
	}
	for _, ti := range r.spec.TrackInterfaces {
		if up, err := r.d.net.LinkUp(ti.Iface); err != nil || !up {
			r.trackSet(now, "interface "+ti.Iface, ti.Weight, true)
		}
	}
	r.scripts = startScripts(r, r.spec.TrackScripts)
	r.m.SetDemotion(now, r.demotion())
	if len(r.faults) > 0 {
		r.log.Warn("not starting: FAULT", "reason", r.faultList())
		r.exec.enqueue(job{kind: jobDemote, from: carp.Init, to: carp.Init, notify: "FAULT",
			reason: "fault: " + joinFaults(r.faultList()), queued: now, prio: r.prio()})
		r.setSnap(carp.Init, now, "fault: "+joinFaults(r.faultList()))
		return
	}
	r.do(now, r.m.Start(now))
}

// receive gives one advert to the machine.
func (r *router) receive(now time.Time, ad carp.Advert) {
	acts, err := r.m.Receive(now, ad)
	if err != nil {
		r.ctr.drop(reasonOf(err))
		return
	}
	r.ctr.received.Add(1)
	r.rec.hear(now, ad)
	r.hbHeard(now)
	r.advertsBack()
	r.do(now, acts)
	if r.hb.dualSince.IsZero() != (r.m.State() != carp.Master) {
		// Became MASTER with the peer MASTER, or left a dual episode.
		r.split(now)
	}
}

// cause is what a caller of the machine knows better than the machine
// about the transitions its call may cause: the reason to report instead
// of the machine's, and the notify word of a move to INIT (FAULT or STOP).
// The zero cause keeps the machine's reason.
type cause struct {
	reason string
	notify string
}

// do executes the machine's actions in order: adverts are sent here and
// now, everything else is queued to the executor.
func (r *router) do(now time.Time, acts []carp.Action) { r.doFor(now, acts, cause{}) }

// doFor is do with the transitions reported with c.
func (r *router) doFor(now time.Time, acts []carp.Action, c cause) {
	// A MASTER displaced by another node opens its claim watch before
	// sending anything; a gratuitous ARP of the new master that came
	// even earlier is found by the watch's probe.
	for _, a := range acts {
		if a.Kind == carp.ActState && a.From == carp.Master && a.To == carp.Backup {
			r.openClaims(now)
		}
	}
	sent, changed := false, false
	for _, a := range acts {
		switch a.Kind {
		case carp.ActSend:
			r.send(a.Advert)
			sent = true
		case carp.ActState:
			r.changed(now, a, c)
			changed = true
		case carp.ActAnnounce:
			r.exec.enqueue(job{kind: jobAnnounce, reason: a.Reason, queued: now})
		}
	}
	// The heartbeat goes with the advert, and at once on a state change
	// so the peer never acts on a stale view at a handover.
	switch {
	case changed:
		r.advertsBack()
		r.beatState(now)
	case sent:
		r.beatWithAdvert(now)
	}
}

// send encodes ad and sends it to the group or to every unicast peer.
func (r *router) send(ad carp.Advert) {
	dsts := r.spec.Peers
	if len(dsts) == 0 {
		dsts = []netip.Addr{group(r.spec)}
	}
	src := r.sock.conn.Src()
	for _, dst := range dsts {
		b, err := r.enc.encode(ad, src, dst)
		if err == nil && r.vsend != nil {
			if r.vsend.WriteTo(b, dst) == nil {
				r.ctr.sent.Add(1)
				continue
			}
		}
		if err == nil {
			err = r.sock.write(b, dst)
		}
		if err != nil {
			if r.ctr.sendErrors.Add(1) == 1 || r.ctr.sendErrors.Load()%100 == 0 {
				r.log.Warn("sending advertisement", "dst", dst.String(), "errors", r.ctr.sendErrors.Load(),
					"error", err)
			}
			continue
		}
		r.ctr.sent.Add(1)
	}
}

// changed queues the transition steps for a state change.
func (r *router) changed(now time.Time, a carp.Action, c cause) {
	reason := a.Reason
	if c.reason != "" {
		reason = c.reason
	}
	j := job{from: a.From, to: a.To, reason: reason, queued: now, prio: r.prio()}
	switch a.To {
	case carp.Master:
		j.kind, j.notify = jobPromote, "MASTER"
	case carp.Backup:
		// ucarp runs the down script on the first INIT → BACKUP unless
		// -n/--neutral (ucarp src/carp.c).
		j.kind, j.notify = jobDemote, "BACKUP"
		j.claims, j.claimsUntil, r.claims = r.claims, r.claimsUntil, nil
		j.downHooks = a.From == carp.Master || a.From == carp.Init && r.first && !r.spec.Neutral
	case carp.Init:
		j.kind, j.notify = jobDemote, c.notify
		j.downHooks = a.From == carp.Master
		j.claims, j.claimsUntil, r.claims = r.claims, r.claimsUntil, nil
	}
	if a.From == carp.Init {
		r.first = false
	}
	r.ctr.transitions.Add(1)
	r.setSnap(a.To, now, reason)
	if h := r.d.hass; h != nil {
		h.SetMaster(r.base.Name, a.To == carp.Master)
	}
	r.exec.enqueue(j)
	r.d.statusChanged()
}

// prio is the notify priority: VRRP's advertised priority, and for CARP
// 255 − advskew (docs/daemon.md, hooks).
func (r *router) prio() int {
	ad := r.m.Advertised()
	if r.spec.Machine.Proto == carp.ProtoCARP {
		return 255 - int(ad.AdvSkew)
	}
	return int(ad.Priority)
}

// demotion sums the demotion inputs.
func (r *router) demotion() int {
	sum := r.manual + r.trackSum()
	if r.claimFail {
		sum += claimFailWeight
	}
	return max(sum, 0)
}

// applyDemotion gives the current sum to the machine.
func (r *router) applyDemotion(now time.Time) {
	r.do(now, r.m.SetDemotion(now, r.demotion()))
}

// fault is a reason to hold a router in INIT, shown in status.
type fault string

// faultLinkDown holds a router while its interface is down (unless
// ignore_ifstate).
const faultLinkDown fault = "link down"

// trackFault is the fault of a weight-0 tracker that failed.
func trackFault(tracker string) fault { return fault("track " + tracker) }

// setFault adds or clears a reason to stay in INIT. The first reason
// shuts the machine down (a MASTER bows out) with notify FAULT; clearing
// the last one starts it again.
func (r *router) setFault(now time.Time, f fault, on bool) {
	was := len(r.faults) > 0
	if on == r.faults[f] {
		return
	}
	if on {
		r.faults[f] = true
	} else {
		delete(r.faults, f)
	}
	switch is := len(r.faults) > 0; {
	case !was && is:
		r.log.Warn("entering FAULT", "reason", string(f))
		r.doFor(now, r.m.Shutdown(now), cause{reason: "fault: " + string(f), notify: "FAULT"})
	case was && !is:
		r.log.Info("leaving FAULT", "reason", string(f))
		r.doFor(now, r.m.Start(now), cause{reason: "fault cleared: " + string(f)})
	}
}

// linkEvent applies a link or address change.
func (r *router) linkEvent(now time.Time, ev link.Event) {
	if ev.Iface == r.spec.Iface {
		switch ev.Kind {
		case link.LinkDown:
			if !r.spec.IgnoreIfState {
				r.setFault(now, faultLinkDown, true)
			}
		case link.LinkUp:
			r.setFault(now, faultLinkDown, false)
		}
	}
	// The VIPs live on the vmac child with vmac, whose own link state is
	// carpd's doing and not a fault.
	if ev.Iface == addrIface(r.spec) && ev.Kind == link.AddrRemoved {
		for _, p := range r.spec.VIPs {
			if p.Addr() == ev.Addr.Addr() {
				r.exec.enqueue(job{kind: jobEnsure, vip: p, queued: now})
			}
		}
	}
	if ev.Kind != link.LinkUp && ev.Kind != link.LinkDown {
		return
	}
	for _, ti := range r.spec.TrackInterfaces {
		if ti.Iface == ev.Iface {
			r.trackResult(now, "interface "+ti.Iface, ti.Weight, ev.Kind == link.LinkDown)
		}
	}
}

// trackResult applies a tracker's new state (see trackSet) and logs a
// change.
func (r *router) trackResult(now time.Time, name string, weight int, failed bool) {
	if !r.trackSet(now, name, weight, failed) {
		return
	}
	r.log.Info("tracker changed", "tracker", name, "failed", failed, "weight", weight)
	r.applyDemotion(now)
}

// trackSet records a tracker's state and reports whether anything
// changed. keepalived semantics, mapped onto our demotion input (which
// only ever makes the node less preferred): a weight-0 tracker faults the
// router while failed; any other weight w demotes by |w| while failed. A
// negative weight is exactly keepalived's (priority − |w| while failing);
// a positive one, which keepalived adds while OK, becomes −w while
// failing: the same difference between the OK and failed states, with
// the configured priority as the OK value.
func (r *router) trackSet(now time.Time, name string, weight int, failed bool) bool {
	fault := trackFault(name)
	if weight == 0 {
		_, had := r.track[name]
		delete(r.track, name)
		if failed == r.faults[fault] {
			return had
		}
		r.setFault(now, fault, failed)
		return true
	}
	changed := r.faults[fault]
	r.setFault(now, fault, false)
	w, had := r.track[name]
	switch {
	case failed && (!had || w != max(weight, -weight)):
		r.track[name] = max(weight, -weight)
		return true
	case !failed && had:
		delete(r.track, name)
		return true
	}
	return changed
}

// clearTracker forgets a tracker that is no longer configured.
func (r *router) clearTracker(now time.Time, name string) {
	delete(r.track, name)
	r.setFault(now, trackFault(name), false)
}

// faultList returns the fault reasons, sorted.
func (r *router) faultList() []string {
	if len(r.faults) == 0 {
		// The usual case, after every advert (publish): no map
		// iteration and no sort (docs/daemon.md, "Cost of an
		// advertisement").
		return nil
	}
	var out []string
	for k := range r.faults {
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out
}

// joinFaults formats fault reasons for a transition reason.
func joinFaults(f []string) string { return strings.Join(f, ", ") }

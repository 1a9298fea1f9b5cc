package daemon

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/heartbeat"
	"github.com/carpd/carpd/internal/status"
)

// The heartbeat (docs/daemon.md, "Heartbeat"): every router publishes its
// state and preference over the broker probe's connection to the peer's
// broker, and reads the peer's, so that lost adverts between two live
// nodes are told apart from a dead peer. carp.DecideSplit holds the
// rules; this file feeds it and carries out its decisions.

// HeartbeatLink is implemented by a Broker that carries heartbeats
// (internal/broker with a probe peer). Its methods do not block.
type HeartbeatLink interface {
	// HeartbeatOn reports whether heartbeats travel at all.
	HeartbeatOn() bool
	// PublishHeartbeat queues b for the peer, dropping the oldest queued
	// one when full. It fills in b.Node, the name the probe gives this
	// node.
	PublishHeartbeat(b heartbeat.Beat)
	// OnHeartbeat sets the receiver of the peer's heartbeats, before
	// Start; fn must not block.
	OnHeartbeat(fn func(b heartbeat.Beat, at time.Time))
}

// peerBeat is a heartbeat from the peer as it reaches a router.
type peerBeat struct {
	b  heartbeat.Beat
	at time.Time
}

// hbState is a router's heartbeat state, owned by its goroutine.
type hbState struct {
	seq  uint64
	last time.Time // when we last published
	next time.Time // when the next periodic one is due
	fast bool      // publishing at the advert rate (hbFast)
	// heard is when a BACKUP last heard an advert, or became BACKUP;
	// want says it asks the peer for heartbeats at the advert rate.
	heard time.Time
	want  bool

	seen      bool
	peer      heartbeat.Beat // the last accepted from the peer
	view      carp.Peer
	received  uint64
	dualSince time.Time
	dualTotal time.Duration // of ended episodes
	announced bool          // this dual episode's re-announcement is queued
	lost      bool          // a rule b episode is on
	lostTotal uint64
	wake      time.Time // DecideSplit's Wake
}

// attachHeartbeat wires the broker's heartbeat in, if it has one.
func (d *Daemon) attachHeartbeat(b Broker) {
	hl, ok := b.(HeartbeatLink)
	if !ok || !hl.HeartbeatOn() {
		return
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	d.hb, d.hbBoot = hl, binary.LittleEndian.Uint64(seed[:])
	hl.OnHeartbeat(d.heartbeatIn)
}

// heartbeatIn hands a peer's heartbeat to the router of its protocol and
// id, the one of the same name if several share them (one id on two
// interfaces); the names may otherwise differ between the nodes. It never
// blocks: a router whose queue is full loses the oldest, which the newest
// supersedes.
func (d *Daemon) heartbeatIn(b heartbeat.Beat, at time.Time) {
	d.mu.Lock()
	var r *router
	for _, name := range d.order {
		x := d.routers[name]
		if x.base.Machine.Proto != b.Proto || x.base.Machine.ID != b.ID {
			continue
		}
		if r == nil || x.base.Name == b.Router {
			r = x
		}
	}
	d.mu.Unlock()
	if r == nil {
		return
	}
	pb := peerBeat{b, at}
	for range 2 {
		r.pending.Add(1) // see router.tryInline
		select {
		case r.peerIn <- pb:
			return
		default:
			r.pending.Add(-1)
		}
		select {
		case <-r.peerIn:
			r.pending.Add(-1)
		default:
		}
	}
}

// hbOn says whether this router publishes heartbeats.
func (r *router) hbOn() bool { return r.d.hb != nil }

// splitOn says whether this router consumes them.
func (r *router) splitOn() bool { return r.d.hb != nil && r.spec.SplitBrain != carp.SplitOff }

// The heartbeat's rate. The rules only read it when adverts stop while
// both nodes live, so it goes at the advert rate (at least
// heartbeat.Floor apart) only while someone needs it, and every
// heartbeat.Quiet otherwise:
//
//   - a BACKUP that has heard no advert for half its master-down interval
//     wants it (hbWantAt): it publishes at once with Want set, and at the
//     advert rate while it wants, so the request survives a lost message;
//   - a node whose peer wants it, or that is MASTER while the peer says
//     MASTER too (rule a), answers at once and goes at the advert rate.
//
// The MASTER's answer arrives about half a master-down interval before
// the BACKUP's timer, which leaves it fresh then (carp.StaleAfter: the
// master-down interval less one advert interval) with room for the MQTT
// round trip. A state change is still published at once, whatever the
// rate.

// hbWantAt is when a BACKUP that hears no advert starts wanting the
// peer's heartbeat at the advert rate; zero when that does not apply,
// as with split_brain off, whose rules would not read it.
func (r *router) hbWantAt() time.Time {
	if !r.splitOn() || r.hb.want || r.m.State() != carp.Backup {
		return time.Time{}
	}
	return r.hb.heard.Add(r.m.DownInterval() / 2)
}

// hbFast says whether heartbeats go at the advert rate now. The peer's
// request, or its MASTER, counts while its last heartbeat is younger than
// two of the periods it announced.
func (r *router) hbFast(now time.Time) bool {
	if r.hb.want {
		return true
	}
	if !r.hb.seen || now.Sub(r.hb.view.At) >= 2*r.hb.peer.Period() {
		return false
	}
	return r.hb.peer.Want || (r.m.State() == carp.Master && r.hb.peer.State == carp.Master)
}

// hbEvery is the periodic heartbeat's interval, at the advert rate when
// fast (hbFast).
func (r *router) hbEvery(fast bool) time.Duration {
	every := max(r.m.AdvInterval(), heartbeat.Floor)
	if fast {
		return every
	}
	return max(every, heartbeat.Quiet)
}

// hbRefresh publishes at once when the heartbeat has to speed up. Slowing
// down waits for the next one, which announces the new period.
func (r *router) hbRefresh(now time.Time) {
	if !r.hbOn() {
		return
	}
	fast := r.hbFast(now)
	if fast == r.hb.fast {
		return
	}
	r.hb.fast = fast
	if !fast {
		return
	}
	if now.Sub(r.hb.last) >= heartbeat.Floor*9/10 {
		r.beat(now)
	} else if next := r.hb.last.Add(heartbeat.Floor); next.Before(r.hb.next) {
		r.hb.next = next
	}
}

// hbWant starts or ends our request for the peer's heartbeat.
func (r *router) hbWant(now time.Time, on bool) {
	if r.hb.want == on {
		return
	}
	r.hb.want = on
	if on {
		r.log.Debug("no advert for half the master-down interval: asking the peer for its heartbeat at the advert rate",
			"heard", r.hb.heard.Format(time.RFC3339Nano))
	}
	r.hbRefresh(now)
}

// hbHeard notes an advert heard: a BACKUP no longer needs the peer's
// heartbeat at the advert rate.
func (r *router) hbHeard(now time.Time) {
	if r.hbOn() {
		r.hb.heard = now
		r.hbWant(now, false)
	}
}

// beat publishes our heartbeat now. It builds a value and queues it: the
// encoding happens on the broker's publisher goroutine.
func (r *router) beat(now time.Time) {
	if !r.hbOn() {
		return
	}
	fast := r.hbFast(now)
	every := r.hbEvery(fast)
	r.hb.seq++
	r.hb.last, r.hb.next, r.hb.fast = now, now.Add(every), fast
	r.d.hb.PublishHeartbeat(heartbeat.Beat{
		Boot: r.d.hbBoot, Seq: r.hb.seq, Router: r.base.Name,
		Proto: r.base.Machine.Proto, ID: r.base.Machine.ID, State: r.m.State(),
		Fault: r.m.State() == carp.Init && len(r.faults) > 0, Advert: r.m.Advertised(), Interval: r.m.AdvInterval(),
		Every: every, Want: r.hb.want,
	})
}

// beatState publishes a state change at once; a new BACKUP starts its
// wait for adverts afresh.
func (r *router) beatState(now time.Time) {
	r.hb.heard, r.hb.want = now, false
	r.beat(now)
}

// beatWithAdvert publishes a MASTER's periodic heartbeat with an advert:
// a peer that dies then stops both at once, which is what keeps rule c
// from delaying a takeover (carp.StaleAfter).
func (r *router) beatWithAdvert(now time.Time) {
	if r.hbOn() && r.m.State() == carp.Master && now.Sub(r.hb.last) >= r.hbEvery(r.hbFast(now))*9/10 {
		r.beat(now)
	}
}

// peerBeat takes a heartbeat of the peer. A router with split_brain off
// still reads the peer's request for heartbeats; only the rules ignore
// the peer.
func (r *router) peerBeat(now time.Time, pb peerBeat) {
	if r.hb.seen && pb.b.Node == r.hb.peer.Node && !heartbeat.Newer(&pb.b, &r.hb.peer) {
		return
	}
	r.hb.seen, r.hb.peer, r.hb.received = true, pb.b, r.hb.received+1
	r.hb.view = carp.Peer{At: pb.at, State: pb.b.State, Advert: pb.b.Advert}
	r.hbRefresh(now)
	if r.splitOn() {
		r.split(now)
	}
}

// split applies carp.DecideSplit: rule a's step-down or re-announcement,
// rule b's report and hold. It runs before the machine's Tick when the
// timer fires, so a held master-down timer never claims.
func (r *router) split(now time.Time) {
	if !r.splitOn() {
		r.endDual(now)
		r.hb.wake = time.Time{}
		return
	}
	mode := r.spec.SplitBrain
	dec := carp.DecideSplit(r.m.SplitInput(now, mode, r.hb.view, r.hb.dualSince))
	r.hb.wake = dec.Wake
	switch {
	case dec.Dual && r.hb.dualSince.IsZero():
		r.log.Warn("split brain: the peer is MASTER too (heard over the broker path, adverts lost)",
			"peer", r.hb.peer.Node, "split_brain", mode.String())
		r.hb.dualSince = dec.DualSince
	case !dec.Dual:
		if !r.hb.dualSince.IsZero() && mode == carp.SplitResolve && r.m.State() == carp.Master {
			// The peer stepped down first: clients may still have its
			// MAC from its claim.
			r.reannounce(now)
		}
		r.endDual(now)
	}
	if dec.Yield {
		_, why := r.m.PeerPreferred(r.hb.view.Advert)
		reason := "split brain: yielding to " + r.hb.view.Advert.Src.String() + " (" + why + "), MASTER over the broker path"
		r.log.Warn("split brain: stepping down", "peer", r.hb.peer.Node, "why", why)
		r.do(now, r.m.Yield(now, r.hb.view.Advert.Src, reason))
		r.endDual(now)
	}
	if dec.Announce {
		r.reannounce(now)
	}
	if dec.AdvertsLost && !r.hb.lost {
		r.hb.lost = true
		r.hb.lostTotal++
		r.log.Warn("adverts from "+r.hb.view.Advert.Src.String()+" lost, peer alive over the broker path",
			"peer", r.hb.peer.Node, "peer_state", r.hb.peer.StateName(), "split_brain", mode.String(),
			"taking_over", mode != carp.SplitResolve)
		r.hassAdvertsLost(true)
		r.d.statusChanged()
	}
	if !dec.Hold.IsZero() {
		r.m.Hold(dec.Hold)
	}
}

// reannounce sends the VIPs' gratuitous ARP / NA burst once per
// dual-master episode that we, the more preferred, survive (rule a):
// hosts may have learned the peer's MAC from its claim.
func (r *router) reannounce(now time.Time) {
	if r.hb.announced {
		return
	}
	r.hb.announced = true
	r.log.Warn("split brain: the peer is less preferred; re-announcing the VIPs", "peer", r.hb.peer.Node)
	r.exec.enqueue(job{kind: jobAnnounce, reason: "split brain: less preferred master " +
		r.hb.view.Advert.Src.String() + " alive over the broker path", queued: now})
}

// endDual closes a dual-master episode, adding its time to the total.
func (r *router) endDual(now time.Time) {
	if r.hb.dualSince.IsZero() {
		return
	}
	took := now.Sub(r.hb.dualSince)
	r.hb.dualTotal += took
	r.hb.dualSince, r.hb.announced = time.Time{}, false
	r.log.Info("split brain over", "took", took.Round(time.Millisecond))
}

// advertsBack ends a rule b episode: an advert arrived, or we changed
// state.
func (r *router) advertsBack() {
	if r.hb.lost {
		r.hb.lost = false
		r.hassAdvertsLost(false)
		r.log.Info("adverts from the peer arrive again, or the state changed; the lost-adverts episode is over")
	}
}

// wake is the next time the router loop must run without an event: the
// machine's deadline, the periodic heartbeat, the split-brain rules.
func (r *router) wake() time.Time {
	dl := r.m.Deadline()
	earlier := func(t time.Time) {
		if !t.IsZero() && (dl.IsZero() || t.Before(dl)) {
			dl = t
		}
	}
	if r.hbOn() && r.m.State() != carp.Master {
		earlier(r.hb.next)
	}
	earlier(r.hbWantAt())
	earlier(r.hb.wake)
	return dl
}

// timerFired runs what is due: the request for the peer's heartbeat, the
// periodic heartbeat of a router that does not advertise, the split-brain
// rules, then the machine's timer.
func (r *router) timerFired(now time.Time) {
	if at := r.hbWantAt(); !at.IsZero() && !now.Before(at) {
		r.hbWant(now, true)
	}
	if r.hbOn() && r.m.State() != carp.Master && !now.Before(r.hb.next) {
		r.beat(now)
	}
	r.split(now)
	was := r.m.State()
	r.do(now, r.m.Tick(now))
	if r.m.State() != was {
		// A claim may start a dual episode with a peer already MASTER.
		r.split(now)
	}
}

// peerStatus is the router's Peer section, nil when the heartbeat is not
// consumed; it reads only the snapshot.
func peerStatus(s *snapshot, now time.Time) *status.Peer {
	if !s.peerOn {
		return nil
	}
	out := s.peer
	if !out.At.IsZero() {
		out.Age = status.Duration(now.Sub(out.At))
		out.Fresh = now.Sub(out.At) < s.peerStale
		adv := advertised(s.peerAdv.Proto, s.peerAdv)
		out.Advertised = &adv
	}
	if !s.dualSince.IsZero() {
		out.DualSeconds += now.Sub(s.dualSince).Seconds()
	}
	return &out
}

// peerSnap refreshes the snapshot's Peer section without allocating, as
// it runs after every event; the caller holds smu.
func (r *router) peerSnap() {
	r.snap.peerOn = r.splitOn()
	if !r.snap.peerOn {
		return
	}
	r.snap.peer = status.Peer{SplitBrain: r.spec.SplitBrain.String(), Heartbeats: r.hb.received,
		AdvertsLost: r.hb.lost, AdvertsLostTotal: r.hb.lostTotal, DualMaster: !r.hb.dualSince.IsZero(),
		DualSeconds: r.hb.dualTotal.Seconds()}
	if r.hb.seen {
		r.snap.peer.Node, r.snap.peer.State, r.snap.peer.At = r.hb.peer.Node, r.hb.peer.StateName(), r.hb.view.At
		r.snap.peer.Every = status.Duration(r.hb.peer.Period())
	}
	r.snap.peerAdv, r.snap.dualSince = r.hb.view.Advert, r.hb.dualSince
	r.snap.peerStale = carp.StaleAfter(r.m.AdvInterval(), r.m.DownInterval())
}

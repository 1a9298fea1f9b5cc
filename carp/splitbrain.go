package carp

import (
	"fmt"
	"net/netip"
	"time"
)

// The split-brain rules use a second, authenticated path to the peer (the
// daemon's heartbeat over MQTT, docs/daemon.md "Heartbeat") to tell "the
// peer is dead" from "its adverts do not reach us". Adverts alone cannot:
// ucarp and keepalived both go dual-master whenever the group is dropped
// between two live nodes (IGMP snooping, a firewall on protocol 112,
// one-way loss). Everything here is pure: the caller passes the times.

// SplitMode is a router's split_brain setting.
type SplitMode uint8

// Split-brain modes. The zero value is the default, resolve.
const (
	// SplitResolve reports and acts: the less preferred of two masters
	// steps down, and a BACKUP does not take over from a peer that is
	// alive and MASTER over the second path.
	SplitResolve SplitMode = iota
	// SplitReport only reports what SplitResolve would act on.
	SplitReport
	// SplitOff ignores the heartbeat.
	SplitOff
)

func (m SplitMode) String() string {
	switch m {
	case SplitResolve:
		return "resolve"
	case SplitReport:
		return "report"
	case SplitOff:
		return "off"
	}
	return "unknown"
}

// Peer is the latest heartbeat of the peer's instance of this virtual
// router.
type Peer struct {
	// At is when it arrived, on our clock; zero when none has.
	At    time.Time
	State State
	// Advert holds the peer's values as it advertises them (demotion
	// applied) and its primary address in Src.
	Advert Advert
}

// SplitInput is what DecideSplit decides from. Machine.SplitInput fills
// it from a running Machine.
type SplitInput struct {
	Now  time.Time
	Mode SplitMode
	// State is ours. Deadline is the Machine's; Silent says a BACKUP's
	// master-down timer runs because nothing was heard (not a bow-out, a
	// VRRP priority 0 or a lower-priority master it preempts).
	State    State
	Deadline time.Time
	Silent   bool
	// AdvInterval and DownInterval are ours.
	AdvInterval, DownInterval time.Duration
	// PeerPreferred says the peer wins the protocol's own comparison
	// against what we advertise (Machine.PeerPreferred).
	PeerPreferred bool
	Peer          Peer
	// DualSince is when the current episode of two masters began, zero
	// if none (the previous decision's DualSince).
	DualSince time.Time
}

// SplitDecision is what the caller does.
type SplitDecision struct {
	// Fresh: the heartbeat is younger than StaleAfter.
	Fresh bool
	// Dual: we and the peer are both MASTER; DualSince is when that
	// episode began (zero when not dual).
	Dual      bool
	DualSince time.Time
	// Yield (rule a): step down to BACKUP now, we are the less preferred
	// master. Announce: re-announce the VIPs now, we are the more
	// preferred one. Both only with SplitResolve, once dual for one
	// advert interval.
	Yield, Announce bool
	// AdvertsLost (rule b): our master-down timer is due while the peer
	// is alive and MASTER over the second path.
	AdvertsLost bool
	// Hold (rule b, SplitResolve): do not take over before Hold; decide
	// again then. Zero: the protocol decides (rule c).
	Hold time.Time
	// Wake is when this decision may change with no new input: a dual
	// episode reaching one interval, the heartbeat going stale. Zero if
	// never.
	Wake time.Time
}

// StaleAfter is how long a heartbeat stays fresh: the master-down
// interval minus one advert interval. A peer that dies stops adverts and
// heartbeats together (a MASTER sends its heartbeat with its advert), so
// when the master-down timer fires its last heartbeat is about one
// master-down interval old, older than this: the takeover is not delayed.
// A peer that lives but whose adverts are lost keeps sending a heartbeat
// every interval, at most about one interval old at that moment, well
// inside. Zero or less means heartbeats are never fresh (a dead ratio of
// 1, or timings too fast for the heartbeat's 100 ms floor).
func StaleAfter(adv, down time.Duration) time.Duration { return down - adv }

// DecideSplit applies the split-brain rules (docs/daemon.md, "Heartbeat"):
//
//	a. both MASTER for one advert interval: the less preferred yields,
//	   the more preferred re-announces (SplitResolve);
//	b. a BACKUP whose master-down timer is due after silence while the
//	   peer's fresh heartbeat says MASTER reports it and, with
//	   SplitResolve, holds until the heartbeat goes stale;
//	c. a stale heartbeat changes nothing.
//
// A bow-out or a VRRP priority 0 (not Silent) is never held, so a planned
// handover is not delayed.
func DecideSplit(in SplitInput) SplitDecision {
	var d SplitDecision
	if in.Mode == SplitOff || in.Peer.At.IsZero() {
		return d
	}
	stale := StaleAfter(in.AdvInterval, in.DownInterval)
	staleAt := in.Peer.At.Add(stale)
	d.Fresh = stale > 0 && in.Now.Before(staleAt)
	if !d.Fresh || in.Peer.State != Master {
		return d
	}
	d.Wake = staleAt
	switch in.State {
	case Master:
		d.Dual, d.DualSince = true, in.DualSince
		if d.DualSince.IsZero() || d.DualSince.After(in.Now) {
			d.DualSince = in.Now
		}
		due := d.DualSince.Add(in.AdvInterval)
		if in.Now.Before(due) {
			d.Wake = due
			return d
		}
		if in.Mode == SplitResolve {
			d.Yield, d.Announce = in.PeerPreferred, !in.PeerPreferred
		}
	case Backup:
		if !in.Silent || in.Deadline.IsZero() || in.Now.Before(in.Deadline) {
			return d
		}
		d.AdvertsLost = true
		if in.Mode == SplitResolve {
			d.Hold = staleAt
		}
	}
	return d
}

// SplitInput gathers the Machine's side of DecideSplit.
func (m *Machine) SplitInput(now time.Time, mode SplitMode, p Peer, dualSince time.Time) SplitInput {
	in := SplitInput{Now: now, Mode: mode, State: m.state, Deadline: m.deadline,
		Silent:      m.state == Backup && m.cause.kind == causeSilence,
		AdvInterval: m.advInterval(), DownInterval: m.downInterval(), Peer: p, DualSince: dualSince}
	if m.state == Master && p.State == Master {
		// Only rule a compares, and PeerPreferred formats its reason.
		in.PeerPreferred, _ = m.PeerPreferred(p.Advert)
	}
	return in
}

// PeerPreferred reports whether a master advertising ad wins against what
// we advertise, by the protocol's own order, and says why: CARP as a
// MASTER compares an advert (carpYields: demote, then advbase and
// advskew), VRRP priority then primary address (RFC 5798 §6.4.3). Unlike
// the wire rule it never lets both sides lose a tie: equal CARP values are
// broken by ucarp's address order (reversedLess) whatever TieBreakIP says,
// since both nodes must agree on one survivor without hearing each other.
func (m *Machine) PeerPreferred(ad Advert) (bool, string) {
	if m.cfg.isVRRP() {
		own := m.adv.Priority
		switch {
		case ad.Priority != own:
			return ad.Priority > own, fmt.Sprintf("priority %d vs our %d", ad.Priority, own)
		case ad.Src.Compare(m.cfg.Addr) > 0:
			return true, fmt.Sprintf("equal priority %d, higher address", own)
		}
		return false, fmt.Sprintf("equal priority %d, lower address", own)
	}
	if ad.Demote != m.adv.Demote ||
		compareTiming(ad.AdvBase, ad.AdvSkew, m.adv.AdvBase, m.adv.AdvSkew) != 0 {
		return m.carpYields(ad)
	}
	if reversedLess(ad.Src, m.cfg.Addr) {
		return true, timingOf(ad) + " (equal timing, lower reversed address)"
	}
	return false, "equal timing " + timingOf(ad) + ", higher reversed address"
}

// Yield steps a MASTER down to BACKUP because the peer, a more preferred
// master, is alive over the second path while neither hears the other's
// adverts (rule a). No bow-out is sent: the peer is already MASTER, and a
// bow-out reaching a third node would only make it claim. The master-down
// timer restarts as after a preemption. Yield outside MASTER does nothing.
func (m *Machine) Yield(now time.Time, peer netip.Addr, reason string) []Action {
	if m.state != Master {
		return nil
	}
	m.acts = m.acts[:0]
	m.stepDown(now, peer, reason)
	return m.out()
}

// Hold postpones a BACKUP's master-down timer to until (rule b), keeping
// its cause. Hold outside BACKUP, or to a time not after the deadline,
// does nothing.
func (m *Machine) Hold(until time.Time) {
	if m.state != Backup || !until.After(m.deadline) {
		return
	}
	m.deadline = until
}

// AdvInterval is how often we advertise while MASTER, demotion applied.
func (m *Machine) AdvInterval() time.Duration { return m.advInterval() }

// DownInterval is how long a BACKUP waits for an advert before claiming.
func (m *Machine) DownInterval() time.Duration { return m.downInterval() }

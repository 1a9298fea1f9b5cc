package carp

import (
	"fmt"
	"time"
)

// skew is RFC 5798 §6.1 Skew_Time from our effective priority:
// ((256 − Priority) × Master_Adver_Interval) / 256 for v3. RFC 3768 §6.1
// (v2) has no interval in it: (256 − Priority)/256 seconds, which is also
// keepalived's VRRP_TIMER_SKEW for v2.
func (m *Machine) skew() time.Duration {
	unit := m.mai
	if m.cfg.Proto == ProtoVRRP2 {
		unit = time.Second
	}
	return time.Duration(256-int(m.adv.Priority)) * unit / 256
}

// receiveVRRP applies RFC 5798 §6.4.2 (BACKUP) and §6.4.3 (MASTER); the
// v2 rules of RFC 3768 §6.4 are the same without interval adoption.
//
// A priority 0 advert is honoured by a BACKUP only from the master it
// follows, else it is dropped as ErrBowOut: VRRPv3 has no authentication
// and VRRPv2's password travels in clear, so anyone on the segment can
// send one.
func (m *Machine) receiveVRRP(now time.Time, ad Advert) error {
	if m.state == Master {
		m.masterVRRP(now, ad)
		return nil
	}
	own := m.adv.Priority
	if ad.Priority == 0 {
		if ad.Src != m.master {
			return ErrBowOut
		}
		// §6.4.2: the master is leaving; claim after Skew_Time only.
		m.deadline = now.Add(m.skew())
		m.cause = downCause{kind: causeZero, src: ad.Src}
		return nil
	}
	lower := ad.Priority < own
	if !lower {
		m.lowerSeen = false
	}
	if !m.preempts(now, lower) {
		// §6.4.2: Preempt_Mode False or priority ≥ ours: follow this
		// master; v3 adopts its interval as Master_Adver_Interval.
		if m.cfg.Proto == ProtoVRRP3 {
			m.mai = ad.Interval
		}
		m.master = ad.Src
		m.resetDown(now)
		return nil
	}
	// §6.4.2: otherwise discard. The master-down timer is not reset, so it
	// fires and we preempt; remember who for the reason.
	m.master = ad.Src
	m.cause = downCause{kind: causeLower, src: ad.Src, prio: ad.Priority}
	return nil
}

// preempts reports whether a BACKUP lets its timer run out on a master
// with lower priority. The owner always preempts (RFC 5798 §6.1,
// keepalived ignores nopreempt at 255). PreemptDelay follows keepalived
// preempt_delay: no preemption until the delay has passed since Start and
// since the lower-priority master was first seen; until then its adverts
// keep resetting the timer.
func (m *Machine) preempts(now time.Time, lower bool) bool {
	if !lower || !(m.cfg.Preempt || m.adv.Priority == ownerPriority) {
		return false
	}
	if m.cfg.PreemptDelay == 0 {
		return true
	}
	if !m.lowerSeen {
		m.lowerSeen = true
		m.preemptAt = later(m.preemptAt, now.Add(m.cfg.PreemptDelay))
	}
	return !now.Before(m.preemptAt)
}

// masterVRRP handles an advert heard while MASTER (RFC 5798 §6.4.3).
func (m *Machine) masterVRRP(now time.Time, ad Advert) {
	own := m.adv.Priority
	switch {
	case ad.Priority == 0:
		// §6.4.3: another master is leaving; advertise now so backups do
		// not claim after its Skew_Time.
		m.send(now, "priority 0 received from "+ad.Src.String())
	case ad.Priority > own:
		m.yieldVRRP(now, ad, fmt.Sprintf("preempted by %v priority %d", ad.Src, ad.Priority))
	case ad.Priority == own && ad.Src.Compare(m.cfg.Addr) > 0:
		// §6.4.3: equal priority, the higher primary address wins.
		m.yieldVRRP(now, ad, fmt.Sprintf("preempted by %v priority %d (equal priority, higher address)",
			ad.Src, ad.Priority))
	default:
		// RFC 5798 discards; RFC 9568 §6.4.3 answers with an advert so the
		// other master steps down, and we re-announce (keepalived
		// garp_lower_prio_repeat).
		why := fmt.Sprintf("priority %d < %d", ad.Priority, own)
		if ad.Priority == own {
			why = fmt.Sprintf("equal priority %d, lower address", own)
		}
		m.announce(now, fmt.Sprintf("lower-priority master %v advertising (%s)", ad.Src, why))
	}
}

// yieldVRRP steps down to the master that sent ad; §6.4.3 has a v3 backup
// take the new master's interval as Master_Adver_Interval.
func (m *Machine) yieldVRRP(now time.Time, ad Advert, reason string) {
	if m.cfg.Proto == ProtoVRRP3 {
		m.mai = ad.Interval
	}
	m.preempted(now, ad.Src, reason)
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

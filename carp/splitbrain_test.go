package carp

import (
	"testing"
	"time"
)

// The heartbeat rules at VRRPv3 200 ms, priority 100: advert interval
// 200 ms, master-down 3×200 + (256−100)×200/256 = 721.875 ms, so a
// heartbeat stays fresh for 521.875 ms.
func TestDecideSplit(t *testing.T) {
	const adv = 200 * time.Millisecond
	const down = 600*time.Millisecond + 156*adv/256
	stale := down - adv
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	peerAt := func(age time.Duration, s State) Peer { return Peer{At: t0.Add(-age), State: s} }
	base := func(mod func(*SplitInput)) SplitInput {
		in := SplitInput{Now: t0, Mode: SplitResolve, AdvInterval: adv, DownInterval: down}
		mod(&in)
		return in
	}
	cases := []struct {
		name string
		in   SplitInput
		want SplitDecision
	}{
		{"no heartbeat yet", base(func(in *SplitInput) { in.State = Backup; in.Silent = true; in.Deadline = t0 }),
			SplitDecision{}},
		{"off ignores a fresh master", base(func(in *SplitInput) {
			in.Mode, in.State, in.Silent, in.Deadline, in.Peer = SplitOff, Backup, true, t0, peerAt(ms(10), Master)
		}), SplitDecision{}},
		// Rule b.
		{"b: backup silent, peer alive master: hold until stale", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0, peerAt(ms(150), Master)
		}), SplitDecision{Fresh: true, AdvertsLost: true, Hold: t0.Add(stale - ms(150)), Wake: t0.Add(stale - ms(150))}},
		{"b report: reported, not held", base(func(in *SplitInput) {
			in.Mode, in.State, in.Silent, in.Deadline, in.Peer = SplitReport, Backup, true, t0, peerAt(ms(150), Master)
		}), SplitDecision{Fresh: true, AdvertsLost: true, Wake: t0.Add(stale - ms(150))}},
		{"b: timer not due yet", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0.Add(ms(1)), peerAt(ms(150), Master)
		}), SplitDecision{Fresh: true, Wake: t0.Add(stale - ms(150))}},
		{"b: peer alive but BACKUP: protocol decides", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0, peerAt(ms(10), Backup)
		}), SplitDecision{Fresh: true}},
		{"b: peer in INIT (shutting down): protocol decides", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0, peerAt(ms(10), Init)
		}), SplitDecision{Fresh: true}},
		// Planned handover: a bow-out (VRRP priority 0) shortens the timer;
		// a heartbeat still saying MASTER must not hold it.
		{"handover: bow-out timer is never held", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, false, t0, peerAt(ms(5), Master)
		}), SplitDecision{Fresh: true, Wake: t0.Add(stale - ms(5))}},
		// Rule c: node death. The last heartbeat left with the last advert,
		// so it is one master-down interval old when the timer fires.
		{"c: peer dead, heartbeat as old as the silence", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0, peerAt(down, Master)
		}), SplitDecision{}},
		{"c: stale exactly at the limit", base(func(in *SplitInput) {
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0, peerAt(stale, Master)
		}), SplitDecision{}},
		{"c: dead ratio 1 leaves no freshness", base(func(in *SplitInput) {
			in.DownInterval = adv
			in.State, in.Silent, in.Deadline, in.Peer = Backup, true, t0, peerAt(0, Master)
		}), SplitDecision{}},
		// Rule a.
		{"a: dual just began", base(func(in *SplitInput) {
			in.State, in.Peer = Master, peerAt(ms(10), Master)
		}), SplitDecision{Fresh: true, Dual: true, DualSince: t0, Wake: t0.Add(adv)}},
		{"a: dual under one interval", base(func(in *SplitInput) {
			in.State, in.Peer, in.DualSince = Master, peerAt(ms(10), Master), t0.Add(-adv+1)
		}), SplitDecision{Fresh: true, Dual: true, DualSince: t0.Add(-adv + 1), Wake: t0.Add(1)}},
		{"a: less preferred yields after one interval", base(func(in *SplitInput) {
			in.State, in.Peer, in.DualSince, in.PeerPreferred = Master, peerAt(ms(10), Master), t0.Add(-adv), true
		}), SplitDecision{Fresh: true, Dual: true, DualSince: t0.Add(-adv), Yield: true, Wake: t0.Add(stale - ms(10))}},
		{"a: more preferred announces", base(func(in *SplitInput) {
			in.State, in.Peer, in.DualSince = Master, peerAt(ms(10), Master), t0.Add(-adv)
		}), SplitDecision{Fresh: true, Dual: true, DualSince: t0.Add(-adv), Announce: true, Wake: t0.Add(stale - ms(10))}},
		{"a report: dual counted, nothing done", base(func(in *SplitInput) {
			in.Mode, in.State, in.Peer, in.DualSince, in.PeerPreferred = SplitReport, Master, peerAt(ms(10), Master), t0.Add(-adv), true
		}), SplitDecision{Fresh: true, Dual: true, DualSince: t0.Add(-adv), Wake: t0.Add(stale - ms(10))}},
		{"a: stale heartbeat ends the episode", base(func(in *SplitInput) {
			in.State, in.Peer, in.DualSince, in.PeerPreferred = Master, peerAt(stale, Master), t0.Add(-time.Second), true
		}), SplitDecision{}},
		{"a: peer backup, no episode", base(func(in *SplitInput) {
			in.State, in.Peer, in.DualSince = Master, peerAt(ms(10), Backup), t0.Add(-time.Second)
		}), SplitDecision{Fresh: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecideSplit(tc.in); got != tc.want {
				t.Errorf("DecideSplit:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPeerPreferred(t *testing.T) {
	skew := func(n uint8) func(*Config) { return func(c *Config) { c.AdvSkew = n } }
	cases := []struct {
		name string
		cfg  Config
		peer Advert
		want bool
	}{
		{"carp: lower advskew wins", cfgFor(ProtoCARP, skew(50)), carpAdv(peerIP, 1, 0, 0), true},
		{"carp: higher advskew loses", cfgFor(ProtoCARP, nil), carpAdv(peerIP, 1, 50, 0), false},
		{"carp: advbase before advskew", cfgFor(ProtoCARP, skew(200)), carpAdv(peerIP, 2, 0, 0), false},
		{"carp: demote before timing", cfgFor(ProtoCARP, skew(50)), carpAdv(peerIP, 1, 0, 1), false},
		// ucarp's order compares the last octet first: 12 > 11, we stay.
		{"carp: tie broken by reversed address, lower wins", cfgFor(ProtoCARP, nil), carpAdv(peerIP, 1, 0, 0), false},
		{"vrrp: higher priority wins", cfgFor(ProtoVRRP3, nil), vrrpAdv(ProtoVRRP3, peerIP, 101, time.Second), true},
		{"vrrp: lower priority loses", cfgFor(ProtoVRRP3, nil), vrrpAdv(ProtoVRRP3, peerIP, 99, time.Second), false},
		{"vrrp: tie, higher address wins", cfgFor(ProtoVRRP3, nil), vrrpAdv(ProtoVRRP3, peerIP, 100, time.Second), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newStarted(t, tc.cfg)
			if got, why := m.PeerPreferred(tc.peer); got != tc.want {
				t.Errorf("PeerPreferred = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

// Both ends of a tie must agree on one survivor: exactly one prefers the
// other, whatever TieBreakIP says.
func TestPeerPreferredAntisymmetric(t *testing.T) {
	for _, p := range []Proto{ProtoCARP, ProtoVRRP2, ProtoVRRP3} {
		for _, tie := range []bool{false, true} {
			a := newStarted(t, cfgFor(p, func(c *Config) { c.TieBreakIP = tie }))
			b := newStarted(t, cfgFor(p, func(c *Config) { c.TieBreakIP = tie; c.Addr = peerIP }))
			ab, _ := a.PeerPreferred(b.Advertised())
			ba, _ := b.PeerPreferred(a.Advertised())
			if ab == ba {
				t.Errorf("%v tiebreak_ip %v: a prefers b %v, b prefers a %v", p, tie, ab, ba)
			}
		}
	}
}

func TestYieldAndHold(t *testing.T) {
	m, at := newMaster(t, cfgFor(ProtoVRRP3, nil))
	acts := copyActs(m.Yield(at, peerIP, "split brain"))
	if len(acts) != 1 || acts[0].Kind != ActState || acts[0].To != Backup {
		t.Fatalf("Yield actions = %+v, want one state change to BACKUP and no advert", acts)
	}
	if m.Master() != peerIP {
		t.Errorf("master after Yield = %v, want %v", m.Master(), peerIP)
	}
	dl := m.Deadline()
	in := m.SplitInput(dl, SplitResolve, Peer{At: dl, State: Master}, time.Time{})
	if !in.Silent || in.State != Backup {
		t.Errorf("after Yield: Silent %v state %v, want a silent BACKUP", in.Silent, in.State)
	}
	m.Hold(dl.Add(-time.Millisecond))
	if m.Deadline() != dl {
		t.Errorf("Hold to an earlier time moved the deadline to %v", m.Deadline())
	}
	m.Hold(dl.Add(time.Second))
	if got := m.Tick(dl); got != nil || m.State() != Backup {
		t.Errorf("Tick at the old deadline after Hold: %+v, state %v", got, m.State())
	}
	m.Tick(dl.Add(time.Second))
	if m.State() != Master {
		t.Errorf("state at the held deadline = %v, want MASTER", m.State())
	}
	if got := m.Yield(dl, peerIP, "x"); len(got) != 1 {
		t.Errorf("Yield from MASTER again: %+v", got)
	}
	if got := m.Yield(dl, peerIP, "x"); got != nil {
		t.Errorf("Yield from BACKUP: %+v, want nil", got)
	}
}

// A VRRP priority 0 makes the timer a bow-out's, which is never held.
func TestSplitInputBowOutNotSilent(t *testing.T) {
	c := cfgFor(ProtoVRRP3, nil)
	m := newStarted(t, c)
	m.Receive(t0, vrrpAdv(ProtoVRRP3, peerIP, 100, time.Second))
	m.Receive(t0.Add(time.Second), vrrpAdv(ProtoVRRP3, peerIP, 0, time.Second))
	if in := m.SplitInput(t0.Add(time.Second), SplitResolve, Peer{}, time.Time{}); in.Silent {
		t.Error("a BACKUP that heard priority 0 reports Silent")
	}
}

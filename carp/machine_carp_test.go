package carp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// carpAdv is a CARP advert from src as it arrives off the wire.
func carpAdv(src netip.Addr, base, skew, demote uint8) Advert {
	return Advert{Proto: ProtoCARP, ID: 7, Src: src, TTL: 255, AdvBase: base, AdvSkew: skew, Demote: demote}
}

// recvCase is one advert delivered to a machine in a given state.
type recvCase struct {
	name     string
	cfg      Config
	master   bool // become MASTER first
	weight   int  // demotion applied before the advert
	ad       Advert
	want     []Action
	state    State
	deadline time.Duration // after the advert's arrival
	from     netip.Addr    // Master() afterwards
	// follow, when valid, is a master whose ordinary advert a BACKUP
	// hears when it reaches its state, before ad.
	follow netip.Addr
	err    error // what Receive returns for ad
}

// followAdv is an ordinary advert from a master a backup follows.
func followAdv(c Config, src netip.Addr) Advert {
	if c.isVRRP() {
		return vrrpAdv(c.Proto, src, 200, c.Interval)
	}
	if c.AdvBase == 0 {
		// At advbase 1 it would time out for a backup at advbase 0.
		return carpAdv(src, 0, 10, 0)
	}
	return carpAdv(src, 1, 0, 0)
}

// runRecv delivers tc.ad 500 ms after the machine reached its state.
func runRecv(t *testing.T, tc recvCase) {
	t.Helper()
	m := newStarted(t, tc.cfg)
	ready := t0
	if tc.master {
		m, ready = newMaster(t, tc.cfg)
	}
	m.SetDemotion(ready, tc.weight)
	if tc.follow.IsValid() {
		if _, err := m.Receive(ready, followAdv(tc.cfg, tc.follow)); err != nil {
			t.Fatalf("Receive from the master followed: %v", err)
		}
	}
	at := ready.Add(500 * time.Millisecond)
	got, err := m.Receive(at, tc.ad)
	if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
		t.Fatalf("Receive: error %v, want %v", err, tc.err)
	}
	if diff := cmp.Diff(tc.want, copyActs(got), addrCmp); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if m.State() != tc.state {
		t.Errorf("state = %v, want %v", m.State(), tc.state)
	}
	if d := m.Deadline().Sub(at); d != tc.deadline {
		t.Errorf("deadline = arrival + %v, want + %v", d, tc.deadline)
	}
	if m.Master() != tc.from {
		t.Errorf("Master() = %v, want %v", m.Master(), tc.from)
	}
}

// claim is the pair of actions for a takeover with reason r.
func claim(ad Advert, r string) []Action {
	return []Action{{Kind: ActSend, Advert: ad, Reason: r}, {Kind: ActState, From: Backup, To: Master, Reason: r}}
}

// sub configures the sub-second timing advbase 0 with advskew skew.
func sub(skew uint8) func(*Config) {
	return func(c *Config) { c.AdvBase, c.AdvSkew = 0, skew }
}

func TestCARPBackupReceive(t *testing.T) {
	skew50 := func(c *Config) { c.AdvSkew = 50 }
	preempt := func(c *Config) { c.AdvSkew, c.Preempt = 50, true }
	us := carpAdv(ownIP, 1, 50, 0)
	// Master-down for advbase 1 advskew 50, FreeBSD formula: 3 s + 50/256 s.
	down := 3*time.Second + 50*time.Second/256
	tests := []recvCase{
		{name: "faster master restarts timer", cfg: cfgFor(ProtoCARP, skew50),
			ad: carpAdv(peerIP, 1, 0, 0), state: Backup, deadline: down, from: peerIP},
		{name: "slower master without preempt restarts timer", cfg: cfgFor(ProtoCARP, skew50),
			ad: carpAdv(peerIP, 1, 100, 0), state: Backup, deadline: down, from: peerIP},
		{name: "equal timing with preempt restarts timer", cfg: cfgFor(ProtoCARP, preempt),
			ad: carpAdv(peerIP, 1, 50, 0), state: Backup, deadline: down, from: peerIP},
		{name: "slower master with preempt", cfg: cfgFor(ProtoCARP, preempt),
			ad:    carpAdv(peerIP, 1, 100, 0),
			want:  claim(us, "preempting slower master 198.18.0.12 (advskew 100 > 50)"),
			state: Master, deadline: time.Second + 50*time.Second/256, from: ownIP},
		{name: "slower advbase with preempt", cfg: cfgFor(ProtoCARP, preempt),
			ad:    carpAdv(peerIP, 2, 0, 0),
			want:  claim(us, "preempting slower master 198.18.0.12 (advbase 2 > 1)"),
			state: Master, deadline: time.Second + 50*time.Second/256, from: ownIP},
		{name: "bow-out without preempt", cfg: cfgFor(ProtoCARP, skew50), follow: peerIP,
			ad:    carpAdv(peerIP, 255, 255, 0),
			want:  claim(us, "bow-out received from 198.18.0.12"),
			state: Master, deadline: time.Second + 50*time.Second/256, from: ownIP},
		{name: "master will time out", cfg: cfgFor(ProtoCARP, skew50), follow: peerIP,
			ad:    carpAdv(peerIP, 4, 0, 0),
			want:  claim(us, "master 198.18.0.12 will time out (interval 4s > master-down 3.1953125s)"),
			state: Master, deadline: time.Second + 50*time.Second/256, from: ownIP},
		// The HMAC covers neither timing nor source: a bow-out counts only
		// from the master we follow, else our own timer decides.
		{name: "bow-out from another node is dropped", cfg: cfgFor(ProtoCARP, skew50), follow: peerIP,
			ad: carpAdv(thirdIP, 255, 255, 0), err: ErrBowOut,
			state: Backup, deadline: down - 500*time.Millisecond, from: peerIP},
		{name: "bow-out before any master is dropped", cfg: cfgFor(ProtoCARP, skew50),
			ad: carpAdv(peerIP, 255, 255, 0), err: ErrBowOut,
			state: Backup, deadline: down - 500*time.Millisecond},
		{name: "slow advert from another node is dropped", cfg: cfgFor(ProtoCARP, skew50), follow: peerIP,
			ad: carpAdv(thirdIP, 4, 0, 0), err: ErrBowOut,
			state: Backup, deadline: down - 500*time.Millisecond, from: peerIP},
		{name: "interval exactly dead ratio × advbase does not time out", cfg: cfgFor(ProtoCARP, skew50),
			ad: carpAdv(peerIP, 3, 0, 0), state: Backup, deadline: down, from: peerIP},
		// Below our master-down interval the master does not time out,
		// even above deadratio × advbase (which the BSDs compare with).
		{name: "interval under master-down does not time out", cfg: cfgFor(ProtoCARP, skew50), follow: peerIP,
			ad: carpAdv(peerIP, 3, 49, 0), state: Backup, deadline: down, from: peerIP},
		{name: "interval over master-down times out", cfg: cfgFor(ProtoCARP, skew50), follow: peerIP,
			ad:    carpAdv(peerIP, 3, 51, 0),
			want:  claim(us, "master 198.18.0.12 will time out (interval 3.19921875s > master-down 3.1953125s)"),
			state: Master, deadline: time.Second + 50*time.Second/256, from: ownIP},
		// advbase 0: deadratio × advbase is 0, and every advert of a
		// faster master used to "time out", a claim about every 300 ms.
		{name: "advbase 0 faster master restarts timer", cfg: cfgFor(ProtoCARP, sub(92)), follow: peerIP,
			ad: carpAdv(peerIP, 0, 26, 0), state: Backup, deadline: 92 * skewUnit, from: peerIP},
		{name: "advbase 0 first advert restarts timer", cfg: cfgFor(ProtoCARP, sub(92)),
			ad: carpAdv(peerIP, 0, 26, 0), state: Backup, deadline: 92 * skewUnit, from: peerIP},
		// A master slower than our master-down interval does time out.
		{name: "advbase 0 slower master times out", cfg: cfgFor(ProtoCARP, sub(26)), follow: peerIP,
			ad:    carpAdv(peerIP, 0, 92, 0),
			want:  claim(carpAdv(ownIP, 0, 26, 0), "master 198.18.0.12 will time out (interval 359.375ms > master-down 101.5625ms)"),
			state: Master, deadline: 26 * skewUnit, from: ownIP},
		{name: "advbase 0 master at advbase 1 times out", cfg: cfgFor(ProtoCARP, sub(92)), follow: peerIP,
			ad:    carpAdv(peerIP, 1, 0, 0),
			want:  claim(carpAdv(ownIP, 0, 92, 0), "master 198.18.0.12 will time out (interval 1s > master-down 359.375ms)"),
			state: Master, deadline: 92 * skewUnit, from: ownIP},
		{name: "advbase 0 bow-out", cfg: cfgFor(ProtoCARP, sub(92)), follow: peerIP,
			ad:    carpAdv(peerIP, 255, 255, 0),
			want:  claim(carpAdv(ownIP, 0, 92, 0), "bow-out received from 198.18.0.12"),
			state: Master, deadline: 92 * skewUnit, from: ownIP},
		{name: "advbase 0 master at 0/0 restarts timer", cfg: cfgFor(ProtoCARP, sub(20)), follow: peerIP,
			ad: carpAdv(peerIP, 0, 0, 0), state: Backup, deadline: 20 * skewUnit, from: peerIP},
		{
			// OpenBSD's rule: 255.996 s is not above 3·100 s, so the bow-out
			// only restarts the timer of a backup with advbase ≥ 86.
			name: "bow-out ignored with advbase 100",
			cfg:  cfgFor(ProtoCARP, func(c *Config) { c.AdvBase = 100 }),
			ad:   carpAdv(peerIP, 255, 255, 0), state: Backup, deadline: 300 * time.Second, from: peerIP},
		{name: "demoted master, DemoteByte, no preempt", cfg: cfgFor(ProtoCARP, func(c *Config) { c.Demote = DemoteByte }),
			ad:    carpAdv(peerIP, 1, 0, 1),
			want:  claim(carpAdv(ownIP, 1, 0, 0), "preempting demoted master 198.18.0.12 (demote 1 > 0)"),
			state: Master, deadline: time.Second, from: ownIP},
		{name: "demoted master, DemoteSkew ignores the byte", cfg: cfgFor(ProtoCARP, nil),
			ad: carpAdv(peerIP, 1, 0, 1), state: Backup, deadline: 3 * time.Second, from: peerIP},
		{name: "slower but less demoted master is not preempted",
			cfg:    cfgFor(ProtoCARP, func(c *Config) { c.Preempt, c.Demote = true, DemoteByte }),
			weight: 2, ad: carpAdv(peerIP, 1, 100, 1), state: Backup, deadline: 3 * time.Second, from: peerIP},
		{name: "demoted backup waits longer", cfg: cfgFor(ProtoCARP, nil), weight: 240,
			ad: carpAdv(peerIP, 1, 0, 0), state: Backup, deadline: 3*time.Second + 240*time.Second/256, from: peerIP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRecv(t, tc) })
	}
}

func TestCARPMasterReceive(t *testing.T) {
	skew50 := func(c *Config) { c.AdvSkew = 50 }
	interval := time.Second + 50*time.Second/256
	down := 3*time.Second + 50*time.Second/256
	us := carpAdv(ownIP, 1, 50, 0)
	// A yielding master sends one last advert of its own (Machine.preempted).
	stepDown := func(own Advert, r string) []Action {
		return []Action{{Kind: ActSend, Advert: own, Reason: "last advert before yielding: " + r},
			{Kind: ActState, From: Master, To: Backup, Reason: r}}
	}
	lessPreferred := func(ad Advert, r string) []Action {
		return []Action{{Kind: ActSend, Advert: ad, Reason: r}, {Kind: ActAnnounce, Reason: r}}
	}
	a := netip.MustParseAddr("198.18.1.10") // reversed 10.1.18.198
	b := netip.MustParseAddr("198.18.2.9")  // reversed 9.2.18.198: numerically higher, reversed lower
	tie := func(c *Config) { c.AdvSkew, c.TieBreakIP, c.Addr = 50, true, a }
	tests := []recvCase{
		{name: "faster master", cfg: cfgFor(ProtoCARP, skew50), master: true,
			ad:   carpAdv(peerIP, 1, 0, 0),
			want: stepDown(us, "preempted by 198.18.0.12 advskew 0"), state: Backup, deadline: down, from: peerIP},
		{name: "faster advbase", cfg: cfgFor(ProtoCARP, func(c *Config) { c.AdvBase = 2 }), master: true,
			ad:   carpAdv(peerIP, 1, 200, 0),
			want: stepDown(carpAdv(ownIP, 2, 0, 0), "preempted by 198.18.0.12 advskew 200"), state: Backup, deadline: 6 * time.Second, from: peerIP},
		{name: "equal timing steps down (BSD)", cfg: cfgFor(ProtoCARP, skew50), master: true,
			ad:   carpAdv(peerIP, 1, 50, 0),
			want: stepDown(us, "preempted by 198.18.0.12 advskew 50 (equal timing)"), state: Backup, deadline: down, from: peerIP},
		{name: "slower master re-announces and advertises", cfg: cfgFor(ProtoCARP, skew50), master: true,
			ad:    carpAdv(peerIP, 1, 100, 0),
			want:  lessPreferred(us, "less preferred master 198.18.0.12 advertising (advskew 100 > 50)"),
			state: Master, deadline: interval, from: ownIP},
		{name: "bow-out of another master", cfg: cfgFor(ProtoCARP, skew50), master: true,
			ad:    carpAdv(peerIP, 255, 255, 0),
			want:  lessPreferred(us, "less preferred master 198.18.0.12 advertising (advbase 255 > 1)"),
			state: Master, deadline: interval, from: ownIP},
		{name: "less demoted but slower peer wins", master: true,
			cfg: cfgFor(ProtoCARP, func(c *Config) { c.Demote = DemoteByte }), weight: 1,
			ad:   carpAdv(peerIP, 1, 100, 0),
			want: stepDown(carpAdv(ownIP, 1, 0, 1), "preempted by 198.18.0.12 demote 0 < 1"), state: Backup, deadline: 3 * time.Second, from: peerIP},
		{name: "more demoted faster peer loses, even in DemoteSkew", cfg: cfgFor(ProtoCARP, skew50), master: true,
			ad:    carpAdv(peerIP, 1, 0, 1),
			want:  lessPreferred(us, "less preferred master 198.18.0.12 advertising (demote 1 > 0)"),
			state: Master, deadline: interval, from: ownIP},
		{name: "tie-break: reversed-lower peer wins", cfg: cfgFor(ProtoCARP, tie), master: true,
			ad:    carpAdv(b, 1, 50, 0),
			want:  stepDown(carpAdv(a, 1, 50, 0), "preempted by 198.18.2.9 advskew 50 (equal timing, lower reversed address)"),
			state: Backup, deadline: down, from: b},
		{name: "tie-break: reversed-higher peer loses",
			cfg:    cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew, c.TieBreakIP, c.Addr = 50, true, b }),
			master: true, ad: carpAdv(a, 1, 50, 0),
			want: lessPreferred(carpAdv(b, 1, 50, 0),
				"less preferred master 198.18.1.10 advertising (equal timing advskew 50, higher reversed address)"),
			state: Master, deadline: interval, from: b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRecv(t, tc) })
	}
}

// TestCARPTieBreakConverges has two masters with equal timing hear each
// other: with TieBreakIP exactly one survives, and it is the same one
// whichever advert arrives first.
func TestCARPTieBreakConverges(t *testing.T) {
	pairs := [][2]string{
		{"198.18.1.10", "198.18.2.9"},
		{"198.18.0.1", "198.18.0.2"},
		{"198.18.0.2", "198.19.0.1"},
		{"198.18.255.1", "198.19.0.1"},
	}
	for _, p := range pairs {
		x, y := netip.MustParseAddr(p[0]), netip.MustParseAddr(p[1])
		for _, first := range []int{0, 1} {
			ms := [2]*Machine{}
			for i, addr := range []netip.Addr{x, y} {
				ms[i], _ = newMaster(t, cfgFor(ProtoCARP, func(c *Config) { c.TieBreakIP, c.Addr = true, addr }))
			}
			at := ms[0].Deadline()
			// Deliver each machine's advert to the other, starting with `first`.
			for _, i := range []int{first, 1 - first} {
				if ms[i].State() != Master {
					continue
				}
				if _, err := ms[1-i].Receive(at, ms[i].Advertised()); err != nil {
					t.Fatal(err)
				}
			}
			want := x
			if reversedLess(y, x) {
				want = y
			}
			var got []netip.Addr
			for _, m := range ms {
				if m.State() == Master {
					got = append(got, m.Advertised().Src)
				}
			}
			if diff := cmp.Diff([]netip.Addr{want}, got, addrCmp); diff != "" {
				t.Errorf("%v vs %v, %v first: masters (-want +got):\n%s", x, y, p[first], diff)
			}
		}
	}
}

func TestCARPTimers(t *testing.T) {
	tests := []struct {
		name           string
		mod            func(*Config)
		interval, down time.Duration
	}{
		{"defaults", nil, time.Second, 3 * time.Second},
		// docs/protocol.md §3.1: advbase 1 advskew 100 → 3 s + 100/256 s.
		{"freebsd advskew 100", func(c *Config) { c.AdvSkew = 100 },
			1390625 * time.Microsecond, 3390625 * time.Microsecond},
		{"openbsd advskew 100", func(c *Config) { c.AdvSkew, c.Down = 100, DownOpenBSD },
			1390625 * time.Microsecond, 4171875 * time.Microsecond},
		{"ucarp deadratio 5 advbase 2", func(c *Config) { c.AdvBase, c.AdvSkew, c.DeadRatio = 2, 128, 5 },
			2500 * time.Millisecond, 10500 * time.Millisecond},
		{"advbase 0", func(c *Config) { c.AdvBase, c.AdvSkew = 0, 64 },
			250 * time.Millisecond, 250 * time.Millisecond},
		{"openbsd advbase 0", func(c *Config) { c.AdvBase, c.AdvSkew, c.Down = 0, 64, DownOpenBSD },
			250 * time.Millisecond, 750 * time.Millisecond},
		// The fastest timing Validate accepts (0/0 is refused).
		{"advbase 0 advskew 1", sub(1), skewUnit, skewUnit},
		{"advbase 0 advskew 26", sub(26), 26 * skewUnit, 26 * skewUnit},
		{"advbase 0 deadratio 5", func(c *Config) { c.AdvBase, c.AdvSkew, c.DeadRatio = 0, 92, 5 },
			92 * skewUnit, 92 * skewUnit},
		{"advbase 255 advskew 254", func(c *Config) { c.AdvBase, c.AdvSkew = 255, 254 },
			255*time.Second + 254*skewUnit, 765*time.Second + 254*skewUnit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newStarted(t, cfgFor(ProtoCARP, tt.mod))
			if got := m.Deadline().Sub(t0); got != tt.down {
				t.Errorf("master-down = %v, want %v", got, tt.down)
			}
			at := m.Deadline()
			m.Tick(at)
			if got := m.Deadline().Sub(at); got != tt.interval {
				t.Errorf("advert interval = %v, want %v", got, tt.interval)
			}
		})
	}
}

func TestInterval(t *testing.T) {
	tests := []struct {
		base, skew uint8
		want       time.Duration
	}{
		{0, 0, 3906250 * time.Nanosecond}, // 1/256 s, not 0 (OpenBSD carp_send_ad)
		{0, 1, 3906250 * time.Nanosecond},
		{0, 26, 101562500 * time.Nanosecond},
		{1, 0, time.Second},
		{1, 100, 1390625 * time.Microsecond},
		{255, 255, 255*time.Second + 996093750*time.Nanosecond},
	}
	for _, tt := range tests {
		if got := Interval(tt.base, tt.skew); got != tt.want {
			t.Errorf("Interval(%d, %d) = %v, want %v", tt.base, tt.skew, got, tt.want)
		}
	}
}

package carp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// vrrpAdv is a VRRP advert from src as it arrives off the wire.
func vrrpAdv(p Proto, src netip.Addr, prio uint8, interval time.Duration) Advert {
	return Advert{Proto: p, ID: 7, Src: src, TTL: 255, Priority: prio, Interval: interval}
}

// vrrpDown is RFC 5798 §6.1 Master_Down_Interval, spelled out for tests.
func vrrpDown(p Proto, prio int, mai time.Duration) time.Duration {
	unit := mai
	if p == ProtoVRRP2 {
		unit = time.Second
	}
	return 3*mai + time.Duration(256-prio)*unit/256
}

func TestVRRPSkewFigures(t *testing.T) {
	// Spot checks of the formula against hand-computed values.
	tests := []struct {
		p    Proto
		prio int
		mai  time.Duration
		want time.Duration
	}{
		{ProtoVRRP3, 100, time.Second, 3609375 * time.Microsecond},           // 3 + 156/256
		{ProtoVRRP3, 200, 2 * time.Second, 6437500 * time.Microsecond},       // 6 + 56·2/256
		{ProtoVRRP2, 100, 3 * time.Second, 9609375 * time.Microsecond},       // 9 + 156/256 (no interval in v2 skew)
		{ProtoVRRP3, 254, 10 * time.Millisecond, 30078125 * time.Nanosecond}, // 30 ms + 2·10/256 ms
	}
	for _, tt := range tests {
		m := newStarted(t, cfgFor(tt.p, func(c *Config) { c.Priority, c.Interval = uint8(tt.prio), tt.mai }))
		if got := m.Deadline().Sub(t0); got != tt.want || got != vrrpDown(tt.p, tt.prio, tt.mai) {
			t.Errorf("%v priority %d interval %v: master-down %v, want %v", tt.p, tt.prio, tt.mai, got, tt.want)
		}
	}
}

func TestVRRPBackupReceive(t *testing.T) {
	v3, v2 := ProtoVRRP3, ProtoVRRP2
	down := vrrpDown(v3, 100, time.Second)
	tests := []recvCase{
		{name: "higher priority resets timer", cfg: cfgFor(v3, nil),
			ad: vrrpAdv(v3, peerIP, 200, time.Second), state: Backup, deadline: down, from: peerIP},
		{name: "equal priority resets timer", cfg: cfgFor(v3, nil),
			ad: vrrpAdv(v3, peerIP, 100, time.Second), state: Backup, deadline: down, from: peerIP},
		{name: "v3 adopts master interval", cfg: cfgFor(v3, nil),
			ad: vrrpAdv(v3, peerIP, 200, 2*time.Second), state: Backup,
			deadline: vrrpDown(v3, 100, 2*time.Second), from: peerIP},
		{name: "v2 keeps own interval", cfg: cfgFor(v2, func(c *Config) { c.Interval = 2 * time.Second }),
			ad: vrrpAdv(v2, peerIP, 200, 2*time.Second), state: Backup,
			deadline: vrrpDown(v2, 100, 2*time.Second), from: peerIP},
		{name: "priority 0 shortens timer to skew", cfg: cfgFor(v3, nil), follow: peerIP,
			ad: vrrpAdv(v3, peerIP, 0, time.Second), state: Backup, deadline: 156 * time.Second / 256, from: peerIP},
		{name: "v2 priority 0 skew", cfg: cfgFor(v2, func(c *Config) { c.Priority = 200 }), follow: peerIP,
			ad: vrrpAdv(v2, peerIP, 0, time.Second), state: Backup, deadline: 56 * time.Second / 256, from: peerIP},
		// Anyone on the segment can send priority 0: it counts only from
		// the master followed.
		{name: "priority 0 from another node is dropped", cfg: cfgFor(v3, nil), follow: peerIP,
			ad: vrrpAdv(v3, thirdIP, 0, time.Second), err: ErrBowOut,
			state: Backup, deadline: down - 500*time.Millisecond, from: peerIP},
		{name: "priority 0 before any master is dropped", cfg: cfgFor(v2, nil),
			ad: vrrpAdv(v2, peerIP, 0, time.Second), err: ErrBowOut,
			state: Backup, deadline: vrrpDown(v2, 100, time.Second) - 500*time.Millisecond},
		{name: "lower priority with preempt is discarded", cfg: cfgFor(v3, nil),
			ad: vrrpAdv(v3, peerIP, 50, time.Second), state: Backup,
			deadline: down - 500*time.Millisecond, from: peerIP},
		{name: "lower priority without preempt resets", cfg: cfgFor(v3, func(c *Config) { c.Preempt = false }),
			ad: vrrpAdv(v3, peerIP, 50, time.Second), state: Backup, deadline: down, from: peerIP},
		{name: "demoted backup follows a higher master", cfg: cfgFor(v3, nil), weight: 60,
			ad: vrrpAdv(v3, peerIP, 50, time.Second), state: Backup,
			deadline: vrrpDown(v3, 40, time.Second), from: peerIP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRecv(t, tc) })
	}
}

func TestVRRPMasterReceive(t *testing.T) {
	v3 := ProtoVRRP3
	us := vrrpAdv(v3, ownIP, 100, time.Second)
	// A yielding master sends one last advert of its own (Machine.preempted).
	stepDown := func(own Advert, r string) []Action {
		return []Action{{Kind: ActSend, Advert: own, Reason: "last advert before yielding: " + r},
			{Kind: ActState, From: Master, To: Backup, Reason: r}}
	}
	lower := func(r string) []Action {
		return []Action{{Kind: ActSend, Advert: us, Reason: r}, {Kind: ActAnnounce, Reason: r}}
	}
	low := netip.MustParseAddr("198.18.0.10")
	tests := []recvCase{
		{name: "higher priority", cfg: cfgFor(v3, nil), master: true,
			ad:   vrrpAdv(v3, peerIP, 150, time.Second),
			want: stepDown(us, "preempted by 198.18.0.12 priority 150"), state: Backup,
			deadline: vrrpDown(v3, 100, time.Second), from: peerIP},
		{name: "higher priority, adopting its interval", cfg: cfgFor(v3, nil), master: true,
			ad:   vrrpAdv(v3, peerIP, 150, 3*time.Second),
			want: stepDown(us, "preempted by 198.18.0.12 priority 150"), state: Backup,
			deadline: vrrpDown(v3, 100, 3*time.Second), from: peerIP},
		{name: "equal priority, higher address", cfg: cfgFor(v3, nil), master: true,
			ad:   vrrpAdv(v3, peerIP, 100, time.Second),
			want: stepDown(us, "preempted by 198.18.0.12 priority 100 (equal priority, higher address)"), state: Backup,
			deadline: vrrpDown(v3, 100, time.Second), from: peerIP},
		{name: "equal priority, lower address", cfg: cfgFor(v3, nil), master: true,
			ad:    vrrpAdv(v3, low, 100, time.Second),
			want:  lower("lower-priority master 198.18.0.10 advertising (equal priority 100, lower address)"),
			state: Master, deadline: time.Second, from: ownIP},
		{name: "lower priority answered at once (RFC 9568)", cfg: cfgFor(v3, nil), master: true,
			ad:    vrrpAdv(v3, peerIP, 50, time.Second),
			want:  lower("lower-priority master 198.18.0.12 advertising (priority 50 < 100)"),
			state: Master, deadline: time.Second, from: ownIP},
		{name: "priority 0 answered at once", cfg: cfgFor(v3, nil), master: true,
			ad:    vrrpAdv(v3, peerIP, 0, time.Second),
			want:  []Action{{Kind: ActSend, Advert: us, Reason: "priority 0 received from 198.18.0.12"}},
			state: Master, deadline: time.Second, from: ownIP},
		{name: "demoted master yields to a backup's priority", cfg: cfgFor(v3, nil), master: true, weight: 80,
			ad:   vrrpAdv(v3, peerIP, 50, time.Second),
			want: stepDown(vrrpAdv(v3, ownIP, 20, time.Second), "preempted by 198.18.0.12 priority 50"), state: Backup,
			deadline: vrrpDown(v3, 20, time.Second), from: peerIP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRecv(t, tc) })
	}
}

// TestVRRPDownReasons checks the reason given when the timer finally
// fires after a priority-0 advert and after discarding a lower master.
func TestVRRPDownReasons(t *testing.T) {
	tests := []struct {
		name string
		prio uint8
		want string
	}{
		{"after priority 0", 0, "priority 0 received from 198.18.0.12"},
		{"after lower master", 60, "preempting lower-priority master 198.18.0.12 (priority 60 < 100)"},
		{"after higher master", 160, "master-down timer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newStarted(t, cfgFor(ProtoVRRP3, nil))
			if _, err := m.Receive(t0.Add(time.Second/2), vrrpAdv(ProtoVRRP3, peerIP, 200, time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Receive(t0.Add(time.Second), vrrpAdv(ProtoVRRP3, peerIP, tt.prio, time.Second)); err != nil {
				t.Fatal(err)
			}
			got := copyActs(m.Tick(m.Deadline()))
			us := vrrpAdv(ProtoVRRP3, ownIP, 100, time.Second)
			if diff := cmp.Diff(claim(us, tt.want), got, addrCmp); diff != "" {
				t.Errorf("Tick (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVRRPPreemptDelay follows keepalived preempt_delay: a lower master
// heard every second keeps resetting the timer until the delay (counted
// from when it was first seen) has passed; then the timer runs out.
func TestVRRPPreemptDelay(t *testing.T) {
	cfg := cfgFor(ProtoVRRP3, func(c *Config) { c.Priority, c.PreemptDelay = 200, 10*time.Second })
	m := newStarted(t, cfg)
	low := vrrpAdv(ProtoVRRP3, peerIP, 100, time.Second)
	down := vrrpDown(ProtoVRRP3, 200, time.Second)
	first := t0.Add(2 * time.Second)
	for s := 0; s <= 12; s++ {
		at := first.Add(time.Duration(s) * time.Second)
		if _, err := m.Receive(at, low); err != nil {
			t.Fatal(err)
		}
		// Reset until first+10s; from then on the advert is discarded.
		wantDeadline := at.Add(down)
		if s >= 10 {
			wantDeadline = first.Add(9 * time.Second).Add(down)
		}
		if !m.Deadline().Equal(wantDeadline) {
			t.Fatalf("advert at first+%ds: deadline first+%v, want first+%v",
				s, m.Deadline().Sub(first), wantDeadline.Sub(first))
		}
		if got := m.Tick(at); got != nil || m.State() != Backup {
			t.Fatalf("Tick at first+%ds = %v, state %v; want nothing, BACKUP", s, got, m.State())
		}
	}
	at := m.Deadline()
	got := copyActs(m.Tick(at))
	want := claim(vrrpAdv(ProtoVRRP3, ownIP, 200, time.Second),
		"preempting lower-priority master 198.18.0.12 (priority 100 < 200)")
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("Tick (-want +got):\n%s", diff)
	}
	t.Logf("lower master first seen at +2s, preempt delay 10s, took over at +%v", at.Sub(t0))
	if at.Sub(first) < 10*time.Second {
		t.Errorf("took over %v after first seeing the lower master, before the 10s delay", at.Sub(first))
	}
}

func TestDemotion(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		weight int
		want   Advert // relevant fields only
	}{
		{"carp skew", cfgFor(ProtoCARP, nil), 100, carpAdv(ownIP, 1, 100, 0)},
		{"carp skew clamps at 240", cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 100 }), 200, carpAdv(ownIP, 1, 240, 0)},
		{"carp skew never below configured", cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 250 }), 10, carpAdv(ownIP, 1, 250, 0)},
		{"carp negative weight is 0", cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 20 }), -5, carpAdv(ownIP, 1, 20, 0)},
		{"carp byte", cfgFor(ProtoCARP, func(c *Config) { c.Demote = DemoteByte }), 3, carpAdv(ownIP, 1, 0, 3)},
		{"carp byte clamps at 255", cfgFor(ProtoCARP, func(c *Config) { c.Demote = DemoteByte }), 1000, carpAdv(ownIP, 1, 0, 255)},
		{"vrrp priority", cfgFor(ProtoVRRP3, nil), 30, vrrpAdv(ProtoVRRP3, ownIP, 70, time.Second)},
		{"vrrp priority floor 1", cfgFor(ProtoVRRP3, nil), 500, vrrpAdv(ProtoVRRP3, ownIP, 1, time.Second)},
		{"vrrp owner unchanged", cfgFor(ProtoVRRP3, func(c *Config) { c.Priority = 255 }), 50, vrrpAdv(ProtoVRRP3, ownIP, 255, time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMachine(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.SetDemotion(t0, tt.weight); got != nil {
				t.Errorf("SetDemotion in INIT = %v, want nil", got)
			}
			if diff := cmp.Diff(tt.want, m.Advertised(), addrCmp); diff != "" {
				t.Errorf("Advertised (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDemotionActions(t *testing.T) {
	carp := cfgFor(ProtoCARP, nil)
	m, at := newMaster(t, carp)
	want := []Action{{Kind: ActSend, Advert: carpAdv(ownIP, 1, 240, 0), Reason: "demoted: advskew 0 → 240"}}
	if diff := cmp.Diff(want, copyActs(m.SetDemotion(at, 240)), addrCmp); diff != "" {
		t.Errorf("demote master (-want +got):\n%s", diff)
	}
	if got := m.Deadline().Sub(at); got != time.Second+240*time.Second/256 {
		t.Errorf("next advert after %v, want the demoted interval 1s+240/256s", got)
	}
	if got := m.SetDemotion(at, 240); got != nil {
		t.Errorf("unchanged demotion = %v, want nil", got)
	}
	want = []Action{{Kind: ActSend, Advert: carpAdv(ownIP, 1, 0, 0), Reason: "demotion lifted: advskew 240 → 0"}}
	if diff := cmp.Diff(want, copyActs(m.SetDemotion(at, 0)), addrCmp); diff != "" {
		t.Errorf("lift demotion (-want +got):\n%s", diff)
	}

	v, at := newMaster(t, cfgFor(ProtoVRRP2, nil))
	want = []Action{{Kind: ActSend, Advert: vrrpAdv(ProtoVRRP2, ownIP, 90, time.Second), Reason: "demoted: priority 100 → 90"}}
	if diff := cmp.Diff(want, copyActs(v.SetDemotion(at, 10)), addrCmp); diff != "" {
		t.Errorf("demote vrrp master (-want +got):\n%s", diff)
	}

	b, _ := newMaster(t, cfgFor(ProtoCARP, func(c *Config) { c.Demote = DemoteByte }))
	want = []Action{{Kind: ActSend, Advert: carpAdv(ownIP, 1, 0, 2), Reason: "demoted: demote 0 → 2"}}
	if diff := cmp.Diff(want, copyActs(b.SetDemotion(at, 2)), addrCmp); diff != "" {
		t.Errorf("demote byte master (-want +got):\n%s", diff)
	}

	backup := newStarted(t, carp)
	if got := backup.SetDemotion(t0, 50); got != nil {
		t.Errorf("demoting a backup = %v, want nil", got)
	}
}

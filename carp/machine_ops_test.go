package carp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestResign(t *testing.T) {
	const why = "step down requested"
	carpBow := Advert{Proto: ProtoCARP, ID: 7, Src: ownIP, TTL: 255, AdvBase: 255, AdvSkew: 255}
	vrrpBow := Advert{Proto: ProtoVRRP3, ID: 7, Src: ownIP, TTL: 255, Priority: 0, Interval: time.Second}
	down := Action{Kind: ActState, From: Master, To: Backup, Reason: why}
	tests := []struct {
		name     string
		cfg      Config
		master   bool
		want     []Action
		state    State
		deadline time.Duration // after the call; 0 = unchanged
	}{
		{"carp master bows out and waits master-down", cfgFor(ProtoCARP, nil), true,
			[]Action{{Kind: ActSend, Advert: carpBow, Reason: why}, down}, Backup, 3 * time.Second},
		// 3 s + (256−100)/256 s.
		{"vrrp3 master sends priority 0", cfgFor(ProtoVRRP3, nil), true,
			[]Action{{Kind: ActSend, Advert: vrrpBow, Reason: why}, down}, Backup, 3609375 * time.Microsecond},
		{"backup does nothing", cfgFor(ProtoCARP, nil), false, nil, Backup, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newStarted(t, tt.cfg)
			if tt.master {
				m, _ = newMaster(t, tt.cfg)
			}
			before := m.Deadline()
			at := t0.Add(time.Hour)
			if diff := cmp.Diff(tt.want, copyActs(m.Resign(at)), addrCmp); diff != "" {
				t.Errorf("Resign (-want +got):\n%s", diff)
			}
			wantDeadline := before
			if tt.deadline != 0 {
				wantDeadline = at.Add(tt.deadline)
			}
			if m.State() != tt.state || !m.Deadline().Equal(wantDeadline) || m.Master().IsValid() {
				t.Errorf("after Resign: %v deadline %v master %v; want %v %v no master",
					m.State(), m.Deadline(), m.Master(), tt.state, wantDeadline)
			}
		})
	}
	var idle Machine
	if got := idle.Resign(t0); got != nil {
		t.Errorf("Resign in INIT = %v, want nil", got)
	}
}

// TestResignHandsOver feeds the bow-out of a resigning master to a backup
// and checks the backup claims without waiting out its master-down timer.
func TestResignHandsOver(t *testing.T) {
	for _, p := range []Proto{ProtoCARP, ProtoVRRP2, ProtoVRRP3} {
		t.Run(p.String(), func(t *testing.T) {
			master, _ := newMaster(t, cfgFor(p, nil))
			peer := newStarted(t, cfgFor(p, func(c *Config) { c.Addr = peerIP }))
			at := t0.Add(time.Hour)
			peer.Receive(at.Add(-time.Second), master.Advertised()) // follows the master
			acts := copyActs(master.Resign(at))
			if len(acts) == 0 || acts[0].Kind != ActSend {
				t.Fatalf("Resign = %v, want a bow-out first", acts)
			}
			got, err := peer.Receive(at, acts[0].Advert)
			if err != nil {
				t.Fatalf("peer.Receive(bow-out): %v", err)
			}
			if p == ProtoCARP {
				if peer.State() != Master {
					t.Errorf("CARP peer after bow-out: %v (%v), want MASTER at once", peer.State(), got)
				}
				return
			}
			// RFC 5798 §6.4.2: priority 0 sets the timer to Skew_Time.
			if skew := time.Duration(156) * time.Second / 256; !peer.Deadline().Equal(at.Add(skew)) {
				t.Errorf("VRRP peer deadline = +%v, want +%v", peer.Deadline().Sub(at), skew)
			}
		})
	}
}

func TestReconfigure(t *testing.T) {
	carpAd := func(skew uint8) Advert {
		return Advert{Proto: ProtoCARP, ID: 7, Src: ownIP, TTL: 255, AdvBase: 1, AdvSkew: skew}
	}
	vrrpAd := Advert{Proto: ProtoVRRP3, ID: 7, Src: ownIP, TTL: 255, Priority: 140, Interval: time.Second}
	tests := []struct {
		name   string
		cfg    Config
		master bool
		weight int
		follow *Advert // advert received at t0+1s before the change
		newCfg Config
		want   []Action
		// deadline is relative to t0; the change happens at t0+2s
		// (MASTER: at its master-down time + 2s, deadline relative to that).
		deadline time.Duration
	}{
		{
			name: "master re-advertises new advskew", cfg: cfgFor(ProtoCARP, nil), master: true,
			newCfg:   cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 100 }),
			want:     []Action{{Kind: ActSend, Advert: carpAd(100), Reason: "reconfigured"}},
			deadline: 2*time.Second + 1390625*time.Microsecond,
		},
		{
			name: "vrrp master keeps demotion on new priority", cfg: cfgFor(ProtoVRRP3, nil), master: true, weight: 10,
			newCfg:   cfgFor(ProtoVRRP3, func(c *Config) { c.Priority = 150 }),
			want:     []Action{{Kind: ActSend, Advert: vrrpAd, Reason: "reconfigured"}},
			deadline: 3 * time.Second,
		},
		{
			name:   "backup shortens master-down at once",
			cfg:    cfgFor(ProtoCARP, func(c *Config) { c.AdvBase = 2 }),
			newCfg: cfgFor(ProtoCARP, nil), deadline: 2*time.Second + 3*time.Second,
		},
		{
			name:   "backup keeps a sooner deadline",
			cfg:    cfgFor(ProtoCARP, nil),
			newCfg: cfgFor(ProtoCARP, func(c *Config) { c.AdvBase = 3 }), deadline: 3 * time.Second,
		},
		{
			// The adopted 2 s Master_Adver_Interval stays: with the new
			// 500 ms the deadline would move to t0+3.8 s.
			name:   "vrrp3 backup keeps the master's interval",
			cfg:    cfgFor(ProtoVRRP3, nil),
			follow: &Advert{Proto: ProtoVRRP3, ID: 7, Src: peerIP, TTL: 255, Priority: 200, Interval: 2 * time.Second},
			newCfg: cfgFor(ProtoVRRP3, func(c *Config) { c.Interval = 500 * time.Millisecond }),
			// 1 s + 3·2 s + 156·2 s/256.
			deadline: time.Second + 6*time.Second + 1218750*time.Microsecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, base := newStarted(t, tt.cfg), t0
			if tt.master {
				m, base = newMaster(t, tt.cfg)
			}
			m.SetDemotion(base, tt.weight)
			if tt.follow != nil {
				if _, err := m.Receive(base.Add(time.Second), *tt.follow); err != nil {
					t.Fatal(err)
				}
			}
			state := m.State()
			got, err := m.Reconfigure(base.Add(2*time.Second), tt.newCfg)
			if err != nil {
				t.Fatalf("Reconfigure: %v", err)
			}
			if diff := cmp.Diff(tt.want, copyActs(got), addrCmp); diff != "" {
				t.Errorf("Reconfigure (-want +got):\n%s", diff)
			}
			if m.State() != state {
				t.Errorf("state %v → %v, want unchanged", state, m.State())
			}
			if d := m.Deadline().Sub(base); d != tt.deadline {
				t.Errorf("deadline = +%v, want +%v", d, tt.deadline)
			}
		})
	}
}

func TestReconfigureRefused(t *testing.T) {
	tests := []struct {
		name   string
		newCfg Config
		want   string
	}{
		{"protocol", cfgFor(ProtoVRRP3, nil), "cannot change"},
		{"id", func() Config { c := cfgFor(ProtoCARP, nil); c.ID = 8; return c }(), "cannot change"},
		{"invalid", cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 255 }), "advskew 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, at := newMaster(t, cfgFor(ProtoCARP, nil))
			adv, deadline := m.Advertised(), m.Deadline()
			got, err := m.Reconfigure(at, tt.newCfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || got != nil {
				t.Errorf("Reconfigure = %v, %v; want nil and an error containing %q", got, err, tt.want)
			}
			if m.State() != Master || m.Advertised() != adv || !m.Deadline().Equal(deadline) {
				t.Errorf("refused Reconfigure changed the machine: %v %+v %v", m.State(), m.Advertised(), m.Deadline())
			}
		})
	}
}

func TestReconfigureInit(t *testing.T) {
	m, err := NewMachine(cfgFor(ProtoCARP, nil))
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("198.18.0.99")
	got, err := m.Reconfigure(t0, cfgFor(ProtoCARP, func(c *Config) { c.AdvBase, c.Addr = 2, other }))
	if got != nil || err != nil {
		t.Fatalf("Reconfigure in INIT = %v, %v; want nil, nil", got, err)
	}
	m.Start(t0)
	if d := m.Deadline().Sub(t0); d != 6*time.Second {
		t.Errorf("master-down after Start = %v, want 6s from the new advbase", d)
	}
	if m.Advertised().Src != other {
		t.Errorf("advertised source %v, want %v", m.Advertised().Src, other)
	}
}

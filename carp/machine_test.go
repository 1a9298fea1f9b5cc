package carp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ownIP  = netip.MustParseAddr("198.18.0.11")
	peerIP = netip.MustParseAddr("198.18.0.12")
	// thirdIP is a node on the segment that is not the master followed.
	thirdIP = netip.MustParseAddr("198.18.0.200")
)

// addrCmp compares netip.Addr values, whose fields are unexported.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// cfgFor returns a valid default configuration for p, adjusted by mod.
func cfgFor(p Proto, mod func(*Config)) Config {
	c := DefaultConfig(p, 7)
	c.Addr = ownIP
	if mod != nil {
		mod(&c)
	}
	return c
}

// newStarted returns a machine started at t0 (BACKUP unless owner).
func newStarted(t *testing.T, c Config) *Machine {
	t.Helper()
	m, err := NewMachine(c)
	if err != nil {
		t.Fatalf("NewMachine(%+v): %v", c, err)
	}
	m.Start(t0)
	return m
}

// newMaster returns a machine that became MASTER by its master-down
// timer; the returned time is when it did.
func newMaster(t *testing.T, c Config) (*Machine, time.Time) {
	t.Helper()
	m := newStarted(t, c)
	at := m.Deadline()
	if m.State() != Master {
		m.Tick(at)
	}
	if m.State() != Master {
		t.Fatalf("state after master-down timer = %v, want MASTER", m.State())
	}
	return m, at
}

// copyActs copies actions out of the machine's reused buffer.
func copyActs(a []Action) []Action {
	if a == nil {
		return nil
	}
	return append([]Action(nil), a...)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"carp default", cfgFor(ProtoCARP, nil), ""},
		{"vrrp2 default", cfgFor(ProtoVRRP2, nil), ""},
		{"vrrp3 default", cfgFor(ProtoVRRP3, nil), ""},
		{"vrrp owner", cfgFor(ProtoVRRP3, func(c *Config) { c.Priority = 255 }), ""},
		{"vhid 0", cfgFor(ProtoCARP, func(c *Config) { c.ID = 0 }), "id 0"},
		{"no address", cfgFor(ProtoCARP, func(c *Config) { c.Addr = netip.Addr{} }), "primary address"},
		{"unknown proto", cfgFor(ProtoUnknown, nil), "not carp, vrrp2 or vrrp3"},
		{"advskew 255", cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 255 }), "advskew 255"},
		{"advskew 254", cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 254 }), ""},
		{"advbase 0 advskew 0", cfgFor(ProtoCARP, func(c *Config) { c.AdvBase = 0 }), "advbase 0"},
		{"advbase 0 advskew 1", cfgFor(ProtoCARP, func(c *Config) { c.AdvBase, c.AdvSkew = 0, 1 }), ""},
		{"bad formula", cfgFor(ProtoCARP, func(c *Config) { c.Down = 9 }), "master-down formula"},
		{"bad demote mode", cfgFor(ProtoCARP, func(c *Config) { c.Demote = 9 }), "demotion mode"},
		{"carp preempt delay", cfgFor(ProtoCARP, func(c *Config) { c.PreemptDelay = time.Second }), "vrrp setting"},
		{"priority 0", cfgFor(ProtoVRRP3, func(c *Config) { c.Priority = 0 }), "priority 0"},
		{"v2 fraction", cfgFor(ProtoVRRP2, func(c *Config) { c.Interval = 1500 * time.Millisecond }), "whole seconds"},
		{"v2 zero", cfgFor(ProtoVRRP2, func(c *Config) { c.Interval = 0 }), "whole seconds"},
		{"v2 256s", cfgFor(ProtoVRRP2, func(c *Config) { c.Interval = 256 * time.Second }), "whole seconds"},
		{"v2 255s", cfgFor(ProtoVRRP2, func(c *Config) { c.Interval = 255 * time.Second }), ""},
		{"v3 10ms", cfgFor(ProtoVRRP3, func(c *Config) { c.Interval = 10 * time.Millisecond }), ""},
		{"v3 40.95s", cfgFor(ProtoVRRP3, func(c *Config) { c.Interval = 40950 * time.Millisecond }), ""},
		{"v3 41s", cfgFor(ProtoVRRP3, func(c *Config) { c.Interval = 41 * time.Second }), "multiple of 10ms"},
		{"v3 15ms", cfgFor(ProtoVRRP3, func(c *Config) { c.Interval = 15 * time.Millisecond }), "multiple of 10ms"},
		{"v3 zero", cfgFor(ProtoVRRP3, func(c *Config) { c.Interval = 0 }), "multiple of 10ms"},
		{"preempt delay 1000s", cfgFor(ProtoVRRP3, func(c *Config) { c.PreemptDelay = 1000 * time.Second }), ""},
		{"preempt delay 1001s", cfgFor(ProtoVRRP3, func(c *Config) { c.PreemptDelay = 1001 * time.Second }), "preempt delay"},
		{"negative preempt delay", cfgFor(ProtoVRRP3, func(c *Config) { c.PreemptDelay = -1 }), "preempt delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.want)
			}
			if _, nerr := NewMachine(tt.cfg); (nerr == nil) != (err == nil) {
				t.Errorf("NewMachine error %v disagrees with Validate %v", nerr, err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	tests := []struct {
		p    Proto
		want Config
	}{
		{ProtoCARP, Config{Proto: ProtoCARP, ID: 3, AdvBase: 1, DeadRatio: 3}},
		{ProtoVRRP2, Config{Proto: ProtoVRRP2, ID: 3, Priority: 100, Interval: time.Second, Preempt: true}},
		{ProtoVRRP3, Config{Proto: ProtoVRRP3, ID: 3, Priority: 100, Interval: time.Second, Preempt: true}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, DefaultConfig(tt.p, 3), addrCmp); diff != "" {
			t.Errorf("DefaultConfig(%v) (-want +got):\n%s", tt.p, diff)
		}
	}
}

func TestStart(t *testing.T) {
	ownerAd := Advert{Proto: ProtoVRRP3, ID: 7, Src: ownIP, TTL: 255, Priority: 255, Interval: time.Second}
	tests := []struct {
		name     string
		cfg      Config
		want     []Action
		state    State
		deadline time.Duration
		master   netip.Addr
	}{
		{
			name:     "carp backup waits master-down",
			cfg:      cfgFor(ProtoCARP, nil),
			want:     []Action{{Kind: ActState, From: Init, To: Backup, Reason: "started"}},
			state:    Backup,
			deadline: 3 * time.Second,
		},
		{
			name:  "vrrp3 backup waits 3·interval + skew",
			cfg:   cfgFor(ProtoVRRP3, nil),
			want:  []Action{{Kind: ActState, From: Init, To: Backup, Reason: "started"}},
			state: Backup,
			// 3 s + (256−100)·1 s/256 = 3.609375 s
			deadline: 3609375 * time.Microsecond,
		},
		{
			name: "vrrp owner claims at once, sending first",
			cfg:  cfgFor(ProtoVRRP3, func(c *Config) { c.Priority = 255 }),
			want: []Action{
				{Kind: ActSend, Advert: ownerAd, Reason: "started as address owner (priority 255)"},
				{Kind: ActState, From: Init, To: Master, Reason: "started as address owner (priority 255)"},
			},
			state:    Master,
			deadline: time.Second,
			master:   ownIP,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMachine(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, copyActs(m.Start(t0)), addrCmp); diff != "" {
				t.Errorf("Start (-want +got):\n%s", diff)
			}
			if m.State() != tt.state || m.Deadline().Sub(t0) != tt.deadline || m.Master() != tt.master {
				t.Errorf("after Start: state %v deadline +%v master %v, want %v +%v %v",
					m.State(), m.Deadline().Sub(t0), m.Master(), tt.state, tt.deadline, tt.master)
			}
			if got := m.Start(t0.Add(time.Second)); got != nil {
				t.Errorf("second Start = %v, want nil", got)
			}
		})
	}
}

func TestTick(t *testing.T) {
	m := newStarted(t, cfgFor(ProtoCARP, func(c *Config) { c.AdvSkew = 100 }))
	due := m.Deadline()
	if got := m.Tick(due.Add(-time.Nanosecond)); got != nil {
		t.Errorf("early Tick = %v, want nil", got)
	}
	ad := Advert{Proto: ProtoCARP, ID: 7, Src: ownIP, TTL: 255, AdvBase: 1, AdvSkew: 100}
	want := []Action{
		{Kind: ActSend, Advert: ad, Reason: "master-down timer"},
		{Kind: ActState, From: Backup, To: Master, Reason: "master-down timer"},
	}
	if diff := cmp.Diff(want, copyActs(m.Tick(due)), addrCmp); diff != "" {
		t.Errorf("Tick at master-down (-want +got):\n%s", diff)
	}
	// 1 s + 100/256 s = 1.390625 s between adverts.
	interval := 1390625 * time.Microsecond
	if got := m.Deadline().Sub(due); got != interval {
		t.Errorf("advert interval = %v, want %v", got, interval)
	}
	next := m.Deadline()
	want = []Action{{Kind: ActSend, Advert: ad, Reason: "advertisement timer"}}
	if diff := cmp.Diff(want, copyActs(m.Tick(next)), addrCmp); diff != "" {
		t.Errorf("Tick as master (-want +got):\n%s", diff)
	}
	if got := m.Deadline().Sub(next); got != interval {
		t.Errorf("next advert after %v, want %v", got, interval)
	}
	// A late wake-up does not delay the adverts after it: the next one is
	// due an interval after this one was due.
	due = m.Deadline()
	m.Tick(due.Add(3 * time.Millisecond))
	if got := m.Deadline().Sub(due); got != interval {
		t.Errorf("after a Tick 3ms late the next advert is due %v after the late one's due time, want %v", got, interval)
	}
	// More than an interval late: one advert now, the next an interval on.
	due = m.Deadline()
	late := due.Add(2 * interval)
	if diff := cmp.Diff(want, copyActs(m.Tick(late)), addrCmp); diff != "" {
		t.Errorf("Tick two intervals late (-want +got):\n%s", diff)
	}
	if got := m.Deadline().Sub(late); got != interval {
		t.Errorf("after a Tick two intervals late the next advert is due %v after it, want %v", got, interval)
	}
	var idle Machine
	if got := idle.Tick(t0); got != nil {
		t.Errorf("Tick in INIT = %v, want nil", got)
	}
}

func TestShutdown(t *testing.T) {
	carp := Advert{Proto: ProtoCARP, ID: 7, Src: ownIP, TTL: 255, AdvBase: 255, AdvSkew: 255}
	vrrp := Advert{Proto: ProtoVRRP3, ID: 7, Src: ownIP, TTL: 255, Priority: 0, Interval: time.Second}
	shut := Action{Kind: ActState, From: Master, To: Init, Reason: "shutdown"}
	tests := []struct {
		name   string
		cfg    Config
		master bool
		want   []Action
	}{
		{"carp master bows out with 255/255", cfgFor(ProtoCARP, nil), true,
			[]Action{{Kind: ActSend, Advert: carp, Reason: "shutdown"}, shut}},
		{"vrrp master sends priority 0", cfgFor(ProtoVRRP3, nil), true,
			[]Action{{Kind: ActSend, Advert: vrrp, Reason: "shutdown"}, shut}},
		{"carp backup just leaves", cfgFor(ProtoCARP, nil), false,
			[]Action{{Kind: ActState, From: Backup, To: Init, Reason: "shutdown"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newStarted(t, tt.cfg)
			if tt.master {
				m, _ = newMaster(t, tt.cfg)
			}
			if diff := cmp.Diff(tt.want, copyActs(m.Shutdown(t0.Add(time.Hour))), addrCmp); diff != "" {
				t.Errorf("Shutdown (-want +got):\n%s", diff)
			}
			if m.State() != Init || !m.Deadline().IsZero() || m.Master().IsValid() {
				t.Errorf("after Shutdown: %v deadline %v master %v", m.State(), m.Deadline(), m.Master())
			}
			if got := m.Shutdown(t0.Add(2 * time.Hour)); got != nil {
				t.Errorf("second Shutdown = %v, want nil", got)
			}
			if got, err := m.Receive(t0, Advert{Proto: tt.cfg.Proto, ID: 7, Src: peerIP, TTL: 255,
				Priority: 200, Interval: time.Second, AdvBase: 1}); got != nil || err != nil {
				t.Errorf("Receive in INIT = %v, %v; want nil, nil", got, err)
			}
		})
	}
}

func TestDropReasons(t *testing.T) {
	good := func(p Proto) Advert {
		return Advert{Proto: p, ID: 7, Src: peerIP, TTL: 255, AdvBase: 1, Priority: 200, Interval: time.Second}
	}
	tests := []struct {
		name string
		cfg  Config
		ad   func(*Advert)
		want error
	}{
		{"ttl 64", cfgFor(ProtoCARP, nil), func(a *Advert) { a.TTL = 64 }, ErrTTL},
		{"ttl unknown", cfgFor(ProtoVRRP3, nil), func(a *Advert) { a.TTL = 0 }, ErrTTL},
		{"wrong vhid", cfgFor(ProtoCARP, nil), func(a *Advert) { a.ID = 8 }, ErrID},
		{"vrrp advert at carp machine", cfgFor(ProtoCARP, nil), func(a *Advert) { a.Proto = ProtoVRRP2 }, ErrID},
		{"own source", cfgFor(ProtoVRRP3, nil), func(a *Advert) { a.Src = ownIP }, ErrLoop},
		{"v2 interval mismatch", cfgFor(ProtoVRRP2, nil), func(a *Advert) { a.Interval = 2 * time.Second }, ErrInterval},
		{"v3 interval 0", cfgFor(ProtoVRRP3, nil), func(a *Advert) { a.Interval = 0 }, ErrInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newStarted(t, tt.cfg)
			before := m.Deadline()
			ad := good(tt.cfg.Proto)
			tt.ad(&ad)
			got, err := m.Receive(t0.Add(time.Second), ad)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("Receive = %v, %v; want nil, %v", got, err, tt.want)
			}
			if m.State() != Backup || !m.Deadline().Equal(before) || m.Master().IsValid() {
				t.Errorf("dropped advert changed the machine: %v deadline %v master %v",
					m.State(), m.Deadline(), m.Master())
			}
		})
	}
	t.Run("ignore ttl for unicast", func(t *testing.T) {
		m := newStarted(t, cfgFor(ProtoCARP, func(c *Config) { c.IgnoreTTL = true }))
		ad := good(ProtoCARP)
		ad.TTL = 64
		if _, err := m.Receive(t0.Add(time.Second), ad); err != nil {
			t.Errorf("Receive with IgnoreTTL = %v, want nil", err)
		}
		if got := m.Deadline().Sub(t0); got != 4*time.Second {
			t.Errorf("master-down restarted to +%v, want +4s", got)
		}
	})
}

func TestAllocs(t *testing.T) {
	for _, p := range []Proto{ProtoCARP, ProtoVRRP2, ProtoVRRP3} {
		cfg := cfgFor(p, nil)
		master, _ := newMaster(t, cfg)
		now := master.Deadline()
		if n := testing.AllocsPerRun(1000, func() {
			if len(master.Tick(now)) != 1 {
				t.Fatal("master Tick sent nothing")
			}
			now = master.Deadline()
		}); n != 0 {
			t.Errorf("%v MASTER Tick allocates %v times, want 0", p, n)
		}
		backup := newStarted(t, cfg)
		ad := Advert{Proto: p, ID: 7, Src: peerIP, TTL: 255, AdvBase: 1, Priority: 200, Interval: time.Second}
		at := t0
		if n := testing.AllocsPerRun(1000, func() {
			at = at.Add(time.Second)
			if _, err := backup.Receive(at, ad); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%v BACKUP Receive allocates %v times, want 0", p, n)
		}
		if backup.State() != Backup {
			t.Errorf("%v backup left BACKUP during the allocation run", p)
		}
	}
}

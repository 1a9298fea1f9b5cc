package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/heartbeat"
	"github.com/google/go-cmp/cmp"
)

// hbBroker is a Broker whose heartbeats go straight to another one's
// receiver, as over the peer's MQTT broker, unless cut.
type hbBroker struct {
	node string

	mu   sync.Mutex
	peer *hbBroker
	recv func(heartbeat.Beat, time.Time)
	cut  bool
	sent []heartbeat.Beat
	hass []string // the adverts-lost sensor's calls
}

func (b *hbBroker) AddAdvertsLost(r string) { b.record("add " + r) }
func (b *hbBroker) SetAdvertsLost(r string, on bool) {
	b.record(fmt.Sprintf("%s %v", r, on))
}

func (b *hbBroker) record(s string) {
	b.mu.Lock()
	b.hass = append(b.hass, s)
	b.mu.Unlock()
}

func (b *hbBroker) hassCalls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.hass...)
}

func (b *hbBroker) AddRouter(string)                       {}
func (b *hbBroker) RemoveRouter(string)                    {}
func (b *hbBroker) SetMaster(string, bool)                 {}
func (b *hbBroker) Start()                                 {}
func (b *hbBroker) Stop()                                  {}
func (b *hbBroker) Interrupt()                             {}
func (b *hbBroker) Health() (bool, int)                    { return false, 0 }
func (b *hbBroker) Status() *BrokerStatus                  { return &BrokerStatus{} }
func (b *hbBroker) HeartbeatOn() bool                      { return true }
func (b *hbBroker) GARPBeforeReady() bool                  { return false }
func (b *hbBroker) Promoted(time.Time) error               { return nil }
func (b *hbBroker) Demoted(time.Time) error                { return nil }
func (b *hbBroker) ApplyDNAT(string, []netip.Prefix) error { return nil }
func (b *hbBroker) RemoveDNAT(string) error                { return nil }
func (b *hbBroker) FlushConntrack([]netip.Prefix) error    { return nil }
func (b *hbBroker) ResetClients([]netip.Prefix) error      { return nil }

func (b *hbBroker) OnHeartbeat(fn func(heartbeat.Beat, time.Time)) {
	b.mu.Lock()
	b.recv = fn
	b.mu.Unlock()
}

func (b *hbBroker) PublishHeartbeat(hb heartbeat.Beat) {
	hb.Node = b.node
	b.mu.Lock()
	peer, cut := b.peer, b.cut
	b.sent = append(b.sent, hb)
	b.mu.Unlock()
	if peer == nil || cut {
		return
	}
	peer.mu.Lock()
	fn := peer.recv
	peer.mu.Unlock()
	if fn != nil {
		fn(hb, time.Now())
	}
}

func (b *hbBroker) setCut(on bool) {
	b.mu.Lock()
	b.cut = on
	b.mu.Unlock()
}

// beats returns the heartbeats sent so far.
func (b *hbBroker) beats() []heartbeat.Beat {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sent)
}

// states returns the states of the heartbeats sent so far.
func (b *hbBroker) states() []carp.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []carp.State
	for _, hb := range b.sent {
		out = append(out, hb.State)
	}
	return out
}

// hbPair starts two nodes on one segment whose brokers carry each other's
// heartbeats: a (priority 200) MASTER, b (100) BACKUP hearing a MASTER
// over a fresh heartbeat.
func hbPair(t *testing.T, mode carp.SplitMode) (seg *segment, a, b *node, ba, bb *hbBroker) {
	t.Helper()
	seg = &segment{deaf: map[*fakeNet]bool{}}
	ba, bb = &hbBroker{node: "a"}, &hbBroker{node: "b"}
	ba.peer, bb.peer = bb, ba
	router := func(prio uint8) config.Router {
		r := vrrpRouter("vr", 7, prio, "198.18.0.100/32")
		r.SplitBrain = mode
		return r
	}
	opts := func(hb *hbBroker) Options {
		return Options{NewBroker: func(BrokerHost) (Broker, error) { return hb, nil }}
	}
	a = newNodeWith(t, newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"}), opts(ba), router(200)).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	b = newNodeWith(t, newFakeNet(seg, map[string]string{"eth0": "198.18.0.2"}), opts(bb), router(100)).start()
	b.waitState("vr", "BACKUP", time.Second)
	if mode != carp.SplitOff {
		waitFor(t, 2*time.Second, "b hearing a MASTER over the heartbeat", func() bool {
			p := b.router("vr").Peer
			return p != nil && p.Heartbeats > 0 && p.State == "MASTER"
		})
	}
	return seg, a, b, ba, bb
}

func (s *segment) setDeaf(n *node, on bool) {
	s.mu.Lock()
	s.deaf[n.net] = on
	s.mu.Unlock()
}

// With resolve, a BACKUP that no longer hears the MASTER's adverts but
// its heartbeat reports the lost adverts and stays BACKUP; once the
// heartbeat stops too, it takes over within a master-down interval of
// the heartbeat going stale.
func TestHeartbeatHoldsBackup(t *testing.T) {
	seg, a, b, ba, bb := hbPair(t, carp.SplitResolve)
	seg.setDeaf(b, true)
	waitFor(t, 3*time.Second, "b reporting lost adverts", func() bool {
		p := b.router("vr").Peer
		return p != nil && p.AdvertsLost && p.AdvertsLostTotal == 1
	})
	// b asked for a's heartbeat at the advert rate, and a answered
	// before b's master-down timer.
	want := slices.IndexFunc(bb.beats(), func(hb heartbeat.Beat) bool { return hb.Want })
	if want < 0 {
		t.Fatal("b never asked for the heartbeat at the advert rate")
	}
	fast := slices.IndexFunc(ba.beats(), func(hb heartbeat.Beat) bool { return hb.Every == testInterval })
	if fast < 0 {
		t.Fatal("a never went to the advert rate")
	}
	if st := b.router("vr").State; st != "BACKUP" {
		t.Fatalf("b with the master's heartbeat fresh: %s, want BACKUP", st)
	}
	if a.router("vr").State != "MASTER" {
		t.Fatalf("a left MASTER")
	}
	if n := len(b.logs.records("adverts from 198.18.0.1 lost, peer alive over the broker path")); n != 1 {
		t.Errorf("lost-adverts warning logged %d times, want once per episode", n)
	}
	start := time.Now()
	ba.setCut(true)
	b.waitState("vr", "MASTER", 3*time.Second)
	// The heartbeat goes stale after master-down minus one interval; the
	// held timer fires then. Slack 500 ms.
	down := 3*testInterval + (256-100)*testInterval/256
	took := time.Since(start)
	t.Logf("b took over %v after the heartbeat stopped (stale after %v)", took, down-testInterval)
	if bound := down - testInterval + 500*time.Millisecond; took > bound {
		t.Errorf("takeover %v after the heartbeat stopped, want at most %v", took, bound)
	}
	// Home Assistant's adverts-lost sensor: announced, ON for the
	// episode, OFF once the takeover ends it.
	if diff := cmp.Diff([]string{"add vr", "vr true", "vr false"}, bb.hassCalls()); diff != "" {
		t.Errorf("adverts-lost sensor calls (-want +got):\n%s", diff)
	}
}

// A settled pair, whose adverts arrive, publishes every heartbeat.Quiet,
// not every advert interval; once the BACKUP goes deaf both go to the
// advert rate, and back to quiet when adverts return.
func TestHeartbeatQuiet(t *testing.T) {
	seg, _, b, ba, bb := hbPair(t, carp.SplitResolve)
	// Past start-up, whose state changes publish at once.
	time.Sleep(heartbeat.Quiet)
	na, nb := len(ba.beats()), len(bb.beats())
	window := 2*heartbeat.Quiet + heartbeat.Quiet/2
	time.Sleep(window)
	quiet := func(who string, beats []heartbeat.Beat) {
		t.Helper()
		// At the advert rate there would be 25; quiet, 2 or 3.
		if len(beats) < 1 || len(beats) > 4 {
			t.Errorf("%s published %d heartbeats in %v, want 1..4 (every %v)", who, len(beats), window, heartbeat.Quiet)
		}
		for _, hb := range beats {
			if hb.Every != heartbeat.Quiet || hb.Want {
				t.Errorf("%s's heartbeat says every %v, want %v: %+v", who, hb.Every, hb.Want, hb)
			}
		}
	}
	quiet("a", ba.beats()[na:])
	quiet("b", bb.beats()[nb:])
	if p := b.router("vr").Peer; p == nil || time.Duration(p.Every) != heartbeat.Quiet {
		t.Errorf("b's status of the peer: %+v, want every %v", p, heartbeat.Quiet)
	}

	seg.setDeaf(b, true)
	waitFor(t, 3*time.Second, "a at the advert rate", func() bool {
		beats := ba.beats()
		return beats[len(beats)-1].Every == testInterval
	})
	seg.setDeaf(b, false)
	waitFor(t, 3*time.Second, "a and b quiet again", func() bool {
		x, y := ba.beats(), bb.beats()
		return x[len(x)-1].Every == heartbeat.Quiet && y[len(y)-1].Every == heartbeat.Quiet && !y[len(y)-1].Want
	})
	if st := b.router("vr").State; st != "BACKUP" {
		t.Errorf("b is %s, want BACKUP throughout", st)
	}
}

// With report, the same BACKUP warns and takes over as the protocol says.
func TestHeartbeatReportOnly(t *testing.T) {
	seg, _, b, _, _ := hbPair(t, carp.SplitReport)
	seg.setDeaf(b, true)
	b.waitState("vr", "MASTER", 3*time.Second)
	waitFor(t, time.Second, "the report", func() bool {
		p := b.router("vr").Peer
		return p != nil && p.AdvertsLostTotal == 1 && p.DualMaster
	})
}

// Rule a: two MASTERs that cannot hear each other's adverts; the less
// preferred (b) steps down after one advert interval, a stays.
func TestHeartbeatYield(t *testing.T) {
	seg, a, b, ba, bb := hbPair(t, carp.SplitResolve)
	// Neither hears the other, and the heartbeat is cut: b claims by the
	// protocol.
	seg.setDeaf(b, true)
	seg.setDeaf(a, true)
	ba.setCut(true)
	bb.setCut(true)
	b.waitState("vr", "MASTER", 3*time.Second)
	// The heartbeat returns: both see two MASTERs, b yields.
	start := time.Now()
	ba.setCut(false)
	bb.setCut(false)
	b.waitState("vr", "BACKUP", 3*time.Second)
	took := time.Since(start)
	t.Logf("b stepped down %v after the heartbeat returned", took)
	// One heartbeat (an interval) to see it, one interval of two MASTERs;
	// slack 500 ms.
	if bound := 2*testInterval + 500*time.Millisecond; took > bound {
		t.Errorf("b stepped down after %v, want at most %v", took, bound)
	}
	if a.router("vr").State != "MASTER" {
		t.Errorf("a, the more preferred, left MASTER")
	}
	waitFor(t, time.Second, "a's re-announcement logged", func() bool {
		return len(a.logs.records("split brain: the peer is less preferred; re-announcing the VIPs")) == 1
	})
	// b's step-down was published at once.
	if st := bb.states(); st[len(st)-1] != carp.Backup {
		t.Errorf("b's last heartbeat says %v, want BACKUP", st[len(st)-1])
	}
}

// A heartbeat goes to the router of its protocol and id, the one of its
// name when two share them, else the first configured.
func TestHeartbeatInRouting(t *testing.T) {
	d := &Daemon{routers: map[string]*router{}}
	for _, name := range []string{"a", "b", "c"} {
		id := uint8(7)
		if name == "c" {
			id = 8
		}
		d.routers[name] = &router{base: &config.Router{Name: name, Machine: carp.Config{Proto: carp.ProtoVRRP3, ID: id}},
			peerIn: make(chan peerBeat, 4)}
		d.order = append(d.order, name)
	}
	for _, tc := range []struct{ name, want string }{{"b", "b"}, {"a", "a"}, {"other", "a"}} {
		d.heartbeatIn(heartbeat.Beat{Proto: carp.ProtoVRRP3, ID: 7, Router: tc.name}, time.Now())
		for _, name := range d.order {
			if got := len(d.routers[name].peerIn); (name == tc.want) != (got == 1) {
				t.Errorf("heartbeat of router %q: %s has %d queued, want it at %s", tc.name, name, got, tc.want)
			}
			for len(d.routers[name].peerIn) > 0 {
				<-d.routers[name].peerIn
			}
		}
	}
}

// With split_brain off a BACKUP that misses adverts does not ask for the
// peer's heartbeat: its rules would not read it.
func TestHeartbeatOffAsksNothing(t *testing.T) {
	seg, _, b, _, bb := hbPair(t, carp.SplitOff)
	seg.setDeaf(b, true)
	b.waitState("vr", "MASTER", 3*time.Second)
	if i := slices.IndexFunc(bb.beats(), func(hb heartbeat.Beat) bool { return hb.Want }); i >= 0 {
		t.Errorf("b with split_brain off asked for the heartbeat: %+v", bb.beats()[i])
	}
}

package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// recTimer is a routerTimer that records what the router asks of it; the
// tests call router.expired themselves.
type recTimer struct {
	sets  []timerSet
	stops int
}

type timerSet struct {
	dl    time.Time
	every time.Duration
}

func (t *recTimer) Set(dl time.Time, every time.Duration) {
	t.sets = append(t.sets, timerSet{dl, every})
}
func (t *recTimer) Stop()  { t.stops++ }
func (t *recTimer) Close() {}

// last is the latest Set.
func (t *recTimer) last(tb testing.TB) timerSet {
	tb.Helper()
	if len(t.sets) == 0 {
		tb.Fatal("the timer was never set")
	}
	return t.sets[len(t.sets)-1]
}

// bootedRouter builds the router of rc on a fake node at 10.0.0.2 and
// boots it as run does, with no goroutine of its own: the tests drive its
// events with deliver, expired and step.
func bootedRouter(t *testing.T, rc config.Router) (*router, *recTimer) {
	t.Helper()
	fn := newFakeNet(&segment{}, map[string]string{"eth0": "10.0.0.2"})
	rc.Machine.Addr = netip.MustParseAddr("10.0.0.2")
	m, err := carp.NewMachine(rc.Machine)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := newEncoder(&rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := fn.Listen("eth0", 4, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	log := slog.New(slog.NewJSONHandler(discard{}, nil))
	ctr := &counters{}
	r := &router{
		d: &Daemon{net: fn, log: log}, base: &rc, spec: &rc, log: log, sock: &socket{conn: conn}, ctr: ctr,
		adverts: make(chan carp.Advert, 4), ctl: make(chan func(time.Time), 4), peerIn: make(chan peerBeat, 4),
		tick: make(chan struct{}, 1), done: make(chan struct{}), m: m, enc: enc,
		faults: make(map[fault]bool), track: make(map[string]int), rec: newRecord(nil),
		exec: newExecutor(context.Background(), log, &rc, nil, nil, "", ctr, func(bool) {}),
	}
	tm := &recTimer{}
	r.mu.Lock()
	r.timer = tm
	r.boot(time.Now())
	r.settle()
	r.live = true
	r.mu.Unlock()
	return r, tm
}

// masterAdvert is an advert of a VRRPv3 master at 10.0.0.1.
func masterAdvert(prio uint8) carp.Advert {
	return carp.Advert{Proto: carp.ProtoVRRP3, ID: 1, Priority: prio, Interval: testInterval, TTL: 255,
		Src: netip.MustParseAddr("10.0.0.1")}
}

// TestDeliverInline checks that an idle BACKUP handles an advert on the
// caller's goroutine (the socket reader's): it is accepted, recorded and
// the master-down timer re-armed before deliver returns.
func TestDeliverInline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, tm := bootedRouter(t, vrrpRouter("r", 1, 100, "10.0.0.100/32"))
		if st := r.m.State(); st != carp.Backup {
			t.Fatalf("booted in %v, want BACKUP", st)
		}
		time.Sleep(testInterval) // the fake clock: the deadline moves
		now := time.Now()
		if !r.deliver(masterAdvert(150)) {
			t.Fatal("deliver refused the advert")
		}
		if got := r.ctr.received.Load(); got != 1 {
			t.Fatalf("%d adverts received when deliver returned, want 1 (handled inline)", got)
		}
		if n := len(r.adverts); n != 0 {
			t.Errorf("%d adverts queued, want none", n)
		}
		if got, want := tm.last(t), (timerSet{now.Add(r.m.DownInterval()), 0}); got != want {
			t.Errorf("timer set to %v (period %v), want the master-down deadline %v", got.dl, got.every, want.dl)
		}
		if st := r.status(); st.Heard == nil {
			t.Error("status shows no heard advert")
		}
	})
}

// TestDeliverQueuedInOrder checks that a busy router gets its adverts
// queued, and that a later advert is queued behind them rather than
// handled inline ahead of them, even once the router is idle again.
func TestDeliverQueuedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _ := bootedRouter(t, vrrpRouter("r", 1, 100, "10.0.0.100/32"))
		r.mu.Lock() // busy: the router goroutine handles an event
		if !r.deliver(masterAdvert(150)) {
			t.Fatal("deliver refused the first advert")
		}
		r.mu.Unlock()
		if !r.deliver(masterAdvert(160)) {
			t.Fatal("deliver refused the second advert")
		}
		if got, n := r.ctr.received.Load(), len(r.adverts); got != 0 || n != 2 {
			t.Fatalf("%d received, %d queued; want 0 and 2: the second overtook the first", got, n)
		}
		for i, want := range []uint8{150, 160} {
			if !r.step() {
				t.Fatal("the router quit")
			}
			r.rec.mu.Lock()
			got := r.rec.heard.Priority
			r.rec.mu.Unlock()
			if got != want {
				t.Errorf("event %d handled the advert of priority %d, want %d", i+1, got, want)
			}
		}
		if p := r.pending.Load(); p != 0 {
			t.Fatalf("%d events pending after both were handled", p)
		}
		// Idle with nothing queued: inline again.
		r.deliver(masterAdvert(170))
		if got := r.ctr.received.Load(); got != 3 {
			t.Errorf("%d received, want 3", got)
		}
	})
}

// TestTimerFiresInline checks a MASTER's advertisement timer: armed once
// with the interval as its period, each expiry sends the advert on the
// timer's goroutine and names the next deadline of the period; an expiry
// while the router is busy is queued, once, and sent by the router.
func TestTimerFiresInline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, tm := bootedRouter(t, vrrpRouter("r", 1, 255, "10.0.0.2/32"))
		if st := r.m.State(); st != carp.Master {
			t.Fatalf("booted in %v, want MASTER (owner)", st)
		}
		start := time.Now()
		sent := r.ctr.sent.Load()
		if got, want := tm.last(t), (timerSet{start.Add(testInterval), testInterval}); got != want {
			t.Fatalf("timer set to %v period %v, want %v period %v", got.dl.Sub(start), got.every,
				want.dl.Sub(start), want.every)
		}
		for i := 1; i <= 3; i++ {
			time.Sleep(testInterval)
			r.expired()
			if got := r.ctr.sent.Load() - sent; got != uint64(i) {
				t.Fatalf("after expiry %d: %d adverts sent, want %d", i, got, i)
			}
			want := timerSet{start.Add(time.Duration(i+1) * testInterval), testInterval}
			if got := tm.last(t); got != want {
				t.Errorf("after expiry %d: timer set to +%v period %v, want +%v", i, got.dl.Sub(start), got.every,
					want.dl.Sub(start))
			}
		}
		// An early expiry (one Set came too late to withdraw) sends
		// nothing.
		r.expired()
		if got := r.ctr.sent.Load() - sent; got != 3 {
			t.Errorf("an early expiry sent an advert: %d sent, want 3", got)
		}
		time.Sleep(testInterval)
		r.mu.Lock() // busy
		r.expired()
		r.expired()
		r.mu.Unlock()
		if got, p := r.ctr.sent.Load()-sent, r.pending.Load(); got != 3 || p != 1 {
			t.Fatalf("busy: %d sent and %d pending, want 3 and 1 tick", got, p)
		}
		r.step()
		if got := r.ctr.sent.Load() - sent; got != 4 {
			t.Errorf("the queued tick sent %d adverts, want 1", got-3)
		}
	})
}

package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/link"
)

// The per-advert path of a running daemon on the fake segment, as carpd
// runs it (JSON log at Info, so Debug calls cost only their arguments):
//
//	go test -run '^$' -bench 'Advert' -benchmem ./internal/daemon
//
// docs/daemon.md ("Cost of an advertisement") has the figures.

// benchDaemon starts a daemon with r on a fresh segment and returns its
// only router once it has reached state.
func benchDaemon(b *testing.B, r config.Router, state carp.State) (*router, *segment) {
	b.Helper()
	seg := &segment{}
	fn := newFakeNet(seg, map[string]string{"eth0": "10.0.0.2"})
	log := slog.New(slog.NewJSONHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := New(Options{Net: fn, Log: log, StateDir: b.TempDir() + "/state", ShutdownTimeout: 5 * time.Second},
		[]config.Router{r})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.mu.Lock()
		rt := d.routers[r.Name]
		d.mu.Unlock()
		if rt != nil && rt.status().State == state.String() {
			return rt, seg
		}
		if time.Now().After(deadline) {
			b.Fatalf("router %s not in %s within 10s", r.Name, state)
		}
		time.Sleep(time.Millisecond)
	}
}

// discard is io.Discard without its ReadFrom, so the handler writes as to
// a file.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkAdvertSend is one periodic advert of a VRRPv3 master: the
// machine's Tick at its deadline, encoding, the socket write, the status
// snapshot and the timer reset of the router loop. The op runs on the
// router goroutine through its control channel, as the timer's wakeup
// would, with the deadline as "now": each op moves the deadline one
// interval on, so the real timer never fires meanwhile.
func BenchmarkAdvertSend(b *testing.B) {
	rc := vrrpRouter("r", 1, 255, "10.0.0.100/32")
	rc.Machine.Interval = time.Second
	r, _ := benchDaemon(b, rc, carp.Master)
	ran := make(chan struct{})
	tick := func(time.Time) {
		dl := r.m.Deadline()
		r.do(dl, r.m.Tick(dl))
		ran <- struct{}{}
	}
	sent := r.ctr.sent.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !r.post(tick) {
			b.Fatal("router stopped")
		}
		<-ran
	}
	b.StopTimer()
	if got := r.ctr.sent.Load() - sent; got < uint64(b.N) {
		b.Fatalf("%d adverts sent in %d ops", got, b.N)
	}
}

// BenchmarkAdvertReceive is one advert of a higher-priority VRRPv3 master
// received by a backup: the socket reader's read, demultiplexing and
// decoding, then on the same goroutine (the router being idle) the
// machine, the heard-advert record, the status snapshot and the timer.
func BenchmarkAdvertReceive(b *testing.B) {
	rc := vrrpRouter("r", 1, 100, "10.0.0.100/32")
	rc.Machine.Interval = time.Second
	r, seg := benchDaemon(b, rc, carp.Backup)
	// The master's advert, built by the daemon's own encoder.
	mc := vrrpRouter("m", 1, 150, "10.0.0.100/32")
	mc.Machine.Interval = time.Second
	enc, err := newEncoder(&mc, nil)
	if err != nil {
		b.Fatal(err)
	}
	src, group := netip.MustParseAddr("10.0.0.1"), carp.Group(false)
	payload, err := enc.encode(carp.Advert{Proto: carp.ProtoVRRP3, ID: 1, Priority: 150, Interval: time.Second},
		src, group)
	if err != nil {
		b.Fatal(err)
	}
	seg.mu.Lock()
	in := seg.conns[0].in
	seg.mu.Unlock()
	pkt := link.Packet{Src: src, Dst: group, TTL: 255, Payload: payload}
	received := r.ctr.received.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		in <- pkt
		// Wait for the router, yielding so that the reader and router
		// goroutines run even with GOMAXPROCS=1.
		for r.ctr.received.Load() < received+uint64(i)+1 {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	if st := r.status(); st.State != "BACKUP" || len(st.Counters.Dropped) > 0 {
		b.Fatalf("backup is %s with drops %v", st.State, st.Counters.Dropped)
	}
}

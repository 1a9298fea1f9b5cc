//go:build linux

package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/secret"
	"github.com/carpd/carpd/mosquitto"
)

// TestProbeNeverLearnsPeer runs a backup that hears a master's adverts and
// supervises a broker whose probe has no configured peer. The probe logs in
// with the broker's credentials, and an advert's source can be forged, so
// the backup must not dial the advertiser: the probe stays off, says why
// in the status and in one warning, and nothing is dialled.
func TestProbeNeverLearnsPeer(t *testing.T) {
	seg := &segment{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 3*time.Second)

	// The broker is a sleep: its readiness check dials loopback port 1
	// and fails, which keeps the test off every address but loopback.
	broker := &config.Broker{
		Command: []string{"sleep", "30"}, Addr: netip.MustParseAddrPort("127.0.0.1:1"),
		Username: "carpd", Password: secret.Secret("s3cret"), OnPromote: "none", OnDemote: "none", NAT: "none",
		ReadyTimeout: 5 * time.Second, StopTimeout: time.Second, BackoffBase: time.Second, BackoffCap: 2 * time.Second,
		Probe: &config.BrokerProbe{Peer: netip.AddrPortFrom(netip.Addr{}, 1), Topic: "home/p",
			Direction: mosquitto.Both, Interval: time.Second, Deadline: 500 * time.Millisecond, BrokenAfter: 2,
			OnBroken: "report"},
	}
	fn := newFakeNet(seg, map[string]string{"eth0": "198.18.0.2"})
	b := newNodeWith(t, fn, Options{Broker: broker}, vrrpRouter("vr", 7, 100, "198.18.0.100/32"))
	var mu sync.Mutex
	var dialled []string
	b.d.bsvc.probe.local.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		dialled = append(dialled, addr)
		return nil, errors.New("the test dials nothing")
	}
	b.start()
	waitFor(t, 3*time.Second, "backup to hear a as master", func() bool { return b.router("vr").Master == "198.18.0.1" })
	// The runner logs this once and returns: after it nothing can start
	// the probe. Before the fix it waited for a master's address instead.
	msg := "bridge probe " + config.ProbeOff
	waitFor(t, 3*time.Second, "the probe to say it is off", func() bool { return len(b.logs.records(msg)) > 0 })

	if recs := b.logs.records(msg); len(recs) != 1 || recs[0]["level"] != "WARN" {
		t.Errorf("log records %v, want one warning", recs)
	}
	if recs := b.logs.records("bridge probe started"); len(recs) != 0 {
		t.Errorf("probe started: %v", recs)
	}
	mu.Lock()
	if len(dialled) != 0 {
		t.Errorf("dialled %v, want nothing", dialled)
	}
	mu.Unlock()
	st := b.d.Status().Broker
	if st == nil || st.Probe == nil {
		t.Fatalf("broker status %+v, want a probe", st)
	}
	if st.Probe.Off != config.ProbeOff || st.Probe.Peer != "" || len(st.Probe.Paths) != 0 {
		t.Errorf("probe status %+v, want off with %q", st.Probe, config.ProbeOff)
	}
}

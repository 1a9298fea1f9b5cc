//go:build linux

package broker

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/secret"
	"github.com/carpd/carpd/mosquitto/mqconf"
)

// probeBroker is testBroker with a probe toward peer (invalid: none
// configured).
func probeBroker(peer netip.AddrPort) *config.Broker {
	cfg := testBroker()
	cfg.Username, cfg.Password = "carpd", secret.Secret("s3cret")
	cfg.Probe = &config.BrokerProbe{Peer: peer, Topic: "home/p", Direction: mqconf.Both,
		Interval: time.Second, Deadline: 500 * time.Millisecond, BrokenAfter: 2, OnBroken: "report"}
	return cfg
}

// TestProbeOffWithoutPeer: without a configured peer the probe does not run.
// It logs in with the broker's credentials and must never take an address
// from anywhere but the configuration, so it says why once, in a warning
// and in the status, and dials nothing.
func TestProbeOffWithoutPeer(t *testing.T) {
	s, f := newTestService(t, probeBroker(netip.AddrPortFrom(netip.Addr{}, 1)))
	msg := "bridge probe " + config.ProbeOff
	waitFor(t, 3*time.Second, "warning that the probe is off", func() bool { return len(f.rec.records(msg)) > 0 })
	if recs := f.rec.records(msg); len(recs) != 1 || recs[0]["level"] != "WARN" {
		t.Errorf("log records %v, want one warning", recs)
	}
	if recs := f.rec.records("bridge probe started"); len(recs) != 0 {
		t.Errorf("probe started: %v", recs)
	}
	if d := f.dials(); len(d) != 0 {
		t.Errorf("dialled %v, want nothing", d)
	}
	st := s.Status()
	if st.Probe == nil || st.Probe.Off != config.ProbeOff || st.Probe.Peer != "" || len(st.Probe.Paths) != 0 {
		t.Errorf("probe status %+v, want off with %q", st.Probe, config.ProbeOff)
	}
}

// TestProbePeerFromConfig: with broker.probe.peer the probe starts toward
// that address and the local broker's static address, and nothing else.
func TestProbePeerFromConfig(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.2:1883")
	s, f := newTestService(t, probeBroker(peer))
	waitFor(t, 3*time.Second, "dials to both brokers", func() bool {
		d := f.dials()
		return slices.Contains(d, "198.18.0.1:1883") && slices.Contains(d, peer.String())
	})
	if recs := f.rec.records("bridge probe started"); len(recs) != 1 || recs[0]["peer"] != peer.String() {
		t.Errorf("log records %v, want one start toward %v", recs, peer)
	}
	for _, a := range f.dials() {
		if a != "198.18.0.1:1883" && a != peer.String() {
			t.Errorf("dialled %s, want only the local broker and %v", a, peer)
		}
	}
	if st := s.Status(); st.Probe == nil || st.Probe.Peer != peer.String() || st.Probe.Off != "" {
		t.Errorf("probe status %+v, want peer %v", st.Probe, peer)
	}
}

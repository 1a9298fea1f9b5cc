package daemon

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches url and parses the exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sample returns the value of name with exactly labels, and whether it
// exists.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && got[k] == v
		}
		if !match {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// TestMetrics scrapes the metrics of two daemons electing a master on the
// fake segment while a third host sends a corrupted advert and adverts
// for a vrid nobody serves: states, transitions, GARP rounds, advert
// counters and drops by reason must match what status reports.
func TestMetrics(t *testing.T) {
	seg := &segment{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	b := newNode(t, seg, "198.18.0.2", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	b.waitState("vr", "BACKUP", time.Second)

	x, err := newFakeNet(seg, map[string]string{"eth0": "198.18.0.9"}).Listen("eth0", 4, ListenOptions{Group: group4})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	forger := vrrpRouter("vr", 7, 50)
	enc, err := newEncoder(&forger, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint8{7, 9, 9} {
		pkt, err := enc.encode(carp.Advert{Proto: carp.ProtoVRRP3, ID: id, Priority: 50, Interval: testInterval},
			netip.MustParseAddr("198.18.0.9"), group4)
		if err != nil {
			t.Fatal(err)
		}
		pkt = slices.Clone(pkt)
		if id == 7 {
			pkt[6] ^= 0xff // checksum
		}
		if err := x.WriteTo(pkt, group4); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "the forged adverts counted", func() bool {
		st := b.d.Status()
		return st.Routers[0].Counters.Dropped["checksum"] == 1 && st.Sockets[0].Dropped["vhid"] == 2
	})
	waitFor(t, 2*time.Second, "a's GARP round", func() bool { return a.router("vr").Counters.Announcements > 0 })

	srvA := httptest.NewServer(metrics.Handler(a.d, a.d.log))
	defer srvA.Close()
	srvB := httptest.NewServer(metrics.Handler(b.d, b.d.log))
	defer srvB.Close()

	beforeA, beforeB := a.router("vr"), b.router("vr")
	famsA, famsB := scrape(t, srvA.URL+"/metrics"), scrape(t, srvB.URL+"/metrics")
	afterA, afterB := a.router("vr"), b.router("vr")

	vr := map[string]string{"router": "vr"}
	exact := []struct {
		fams   map[string]*dto.MetricFamily
		node   string
		name   string
		labels map[string]string
		want   float64
	}{
		{famsA, "a", "carpd_router_info", map[string]string{"router": "vr", "iface": "eth0", "proto": "vrrp3", "id": "7"}, 1},
		{famsA, "a", "carpd_router_state", map[string]string{"router": "vr", "state": "MASTER"}, 1},
		{famsA, "a", "carpd_router_state", map[string]string{"router": "vr", "state": "BACKUP"}, 0},
		{famsA, "a", "carpd_router_state", map[string]string{"router": "vr", "state": "INIT"}, 0},
		{famsB, "b", "carpd_router_state", map[string]string{"router": "vr", "state": "BACKUP"}, 1},
		{famsB, "b", "carpd_router_state", map[string]string{"router": "vr", "state": "MASTER"}, 0},
		{famsA, "a", "carpd_router_transitions_total", vr, 2}, // INIT → BACKUP → MASTER
		{famsB, "b", "carpd_router_transitions_total", vr, 1},
		{famsB, "b", "carpd_router_adverts_dropped_total", map[string]string{"router": "vr", "reason": "checksum"}, 1},
		{famsB, "b", "carpd_socket_dropped_total", map[string]string{"iface": "eth0", "family": "4",
			"src": "198.18.0.2", "group": "224.0.0.18", "reason": "vhid"}, 2},
		{famsB, "b", "carpd_router_demotion", vr, 0},
		{famsB, "b", "carpd_router_state_since_timestamp_seconds", vr, float64(beforeB.Since.UnixNano()) / 1e9},
	}
	for _, tt := range exact {
		got, ok := sample(tt.fams, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s: %s%v = %v (present %v), want %v", tt.node, tt.name, tt.labels, got, ok, tt.want)
		}
	}

	// Counters that move while we scrape: the scrape lies between the
	// status taken before and the one taken after.
	between := []struct {
		fams          map[string]*dto.MetricFamily
		node, name    string
		before, after uint64
	}{
		{famsA, "a", "carpd_router_adverts_sent_total", beforeA.Counters.Sent, afterA.Counters.Sent},
		{famsB, "b", "carpd_router_adverts_received_total", beforeB.Counters.Received, afterB.Counters.Received},
		{famsA, "a", "carpd_router_garp_rounds_total", beforeA.Counters.Announcements, afterA.Counters.Announcements},
	}
	for _, tt := range between {
		got, ok := sample(tt.fams, tt.name, vr)
		if !ok || got < float64(tt.before) || got > float64(tt.after) || got == 0 {
			t.Errorf("%s: %s = %v (present %v), want within [%d, %d] and above 0", tt.node, tt.name, got, ok,
				tt.before, tt.after)
		}
	}
	if got, ok := sample(famsA, "carpd_router_last_transition_duration_seconds", vr); !ok || got <= 0 || got > 1 {
		t.Errorf("a: last transition took %v s (present %v)", got, ok)
	}
	for name := range famsA {
		if strings.HasPrefix(name, "carpd_broker_") || strings.HasPrefix(name, "carpd_probe_") ||
			strings.HasPrefix(name, "carpd_nat_") {
			t.Errorf("%s exported without a broker, NAT or probe", name)
		}
	}
}

package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// static is a Source with a fixed report.
type static status.Report

func (s static) Status() status.Report { return status.Report(s) }

var at = time.Unix(1773500000, 0)

func report() status.Report {
	skew, base, dem := uint8(100), uint8(1), uint8(0)
	return status.Report{
		PID: 1, Started: at, Version: "v1.2.3",
		Config: &status.Config{Loaded: at.Add(time.Hour), ReloadError: "carpd.yaml:7: vips: bad"},
		Routers: []status.Router{{
			Name: "carp7", Iface: "eth0", Proto: "carp", ID: 7, State: "BACKUP", Since: at.Add(1500 * time.Millisecond),
			Advertised: status.Advertised{AdvBase: &base, AdvSkew: &skew, Demote: &dem, Interval: "1.390625s"},
			Demotion:   status.Demotion{Manual: 2, Total: 2},
			Counters: status.Counters{Sent: 5, SendErrors: 1, Received: 40, Announcements: 3, Transitions: 4,
				Dropped: map[string]uint64{"auth": 2, "ttl": 1}, HookFailures: map[string]uint64{"up": 3, "notify": 1}},
			Transitions: []status.Transition{
				{Done: true, Took: status.Duration(25 * time.Millisecond)},
				{Done: true, Took: status.Duration(4 * time.Millisecond)},
				{Done: false}, // still running: the last finished one counts
			},
		}},
		Sockets: []status.Socket{
			{Iface: "eth0", Family: 4, Src: "198.18.0.1", Group: "224.0.0.18", Dropped: map[string]uint64{"vhid": 9}},
			{Iface: "eth1", Family: 6, Src: "2001:2::1", Unicast: true, Dropped: map[string]uint64{"short": 1}},
		},
		Broker: &status.Broker{Phase: "running", Ready: true, Restarts: 2, TimeToReady: "250ms",
			NAT: status.NAT{Mode: "dnat", Rules: []string{"a", "b"}},
			Probe: &status.Probe{Peer: "198.18.0.2", Paths: []status.Path{
				{Direction: "out", State: "ok", LastOK: at, RTT: "3ms"},
				{Direction: "in", State: "broken", Failures: 4}, // no RTT yet: no latency sample
			}},
		},
	}
}

// TestCollect compares every carpd metric of a full report with the
// exposition format it must produce.
func TestCollect(t *testing.T) {
	want := `
# HELP carpd_broker_ready 1 when the supervised broker passed its readiness check.
# TYPE carpd_broker_ready gauge
carpd_broker_ready 1
# HELP carpd_broker_restarts_total Restarts of the supervised broker after crashes.
# TYPE carpd_broker_restarts_total counter
carpd_broker_restarts_total 2
# HELP carpd_broker_time_to_ready_seconds Readiness time of the broker's last start.
# TYPE carpd_broker_time_to_ready_seconds gauge
carpd_broker_time_to_ready_seconds 0.25
# HELP carpd_build_info Always 1; the labels are carpd's version and the Go version that built it.
# TYPE carpd_build_info gauge
carpd_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
# HELP carpd_config_last_reload_success_timestamp_seconds When the running configuration was loaded: at start or by the last successful reload.
# TYPE carpd_config_last_reload_success_timestamp_seconds gauge
carpd_config_last_reload_success_timestamp_seconds 1.7735036e+09
# HELP carpd_config_last_reload_successful 1 unless the last configuration reload was refused (the previous configuration then keeps running).
# TYPE carpd_config_last_reload_successful gauge
carpd_config_last_reload_successful 0
# HELP carpd_hook_failures_total Hook runs that failed (non-zero exit or timeout), by hook.
# TYPE carpd_hook_failures_total counter
carpd_hook_failures_total{hook="notify",router="carp7"} 1
carpd_hook_failures_total{hook="up",router="carp7"} 3
# HELP carpd_nat_rules DNAT rules applied.
# TYPE carpd_nat_rules gauge
carpd_nat_rules 2
# HELP carpd_probe_failures Failed bridge probes in a row.
# TYPE carpd_probe_failures gauge
carpd_probe_failures{direction="in"} 4
carpd_probe_failures{direction="out"} 0
# HELP carpd_probe_last_success_timestamp_seconds When a bridge probe in this direction last arrived.
# TYPE carpd_probe_last_success_timestamp_seconds gauge
carpd_probe_last_success_timestamp_seconds{direction="out"} 1.7735e+09
# HELP carpd_probe_latency_seconds Publish-to-delivery time of the last successful bridge probe.
# TYPE carpd_probe_latency_seconds gauge
carpd_probe_latency_seconds{direction="out"} 0.003
# HELP carpd_probe_ok 1 when the last bridge probe in this direction arrived.
# TYPE carpd_probe_ok gauge
carpd_probe_ok{direction="in"} 0
carpd_probe_ok{direction="out"} 1
# HELP carpd_router_advert_send_errors_total Advertisements that could not be sent.
# TYPE carpd_router_advert_send_errors_total counter
carpd_router_advert_send_errors_total{router="carp7"} 1
# HELP carpd_router_adverts_dropped_total Received advertisements dropped, by reason.
# TYPE carpd_router_adverts_dropped_total counter
carpd_router_adverts_dropped_total{reason="auth",router="carp7"} 2
carpd_router_adverts_dropped_total{reason="ttl",router="carp7"} 1
# HELP carpd_router_adverts_received_total Advertisements the state machine accepted.
# TYPE carpd_router_adverts_received_total counter
carpd_router_adverts_received_total{router="carp7"} 40
# HELP carpd_router_adverts_sent_total Advertisements sent.
# TYPE carpd_router_adverts_sent_total counter
carpd_router_adverts_sent_total{router="carp7"} 5
# HELP carpd_router_demotion Total demotion of the router.
# TYPE carpd_router_demotion gauge
carpd_router_demotion{router="carp7"} 2
# HELP carpd_router_garp_rounds_total Gratuitous ARP / unsolicited neighbour advertisement rounds sent, each covering every VIP.
# TYPE carpd_router_garp_rounds_total counter
carpd_router_garp_rounds_total{router="carp7"} 3
# HELP carpd_router_info A configured virtual router.
# TYPE carpd_router_info gauge
carpd_router_info{id="7",iface="eth0",proto="carp",router="carp7"} 1
# HELP carpd_router_last_transition_duration_seconds Time the steps of the router's last finished transition took.
# TYPE carpd_router_last_transition_duration_seconds gauge
carpd_router_last_transition_duration_seconds{router="carp7"} 0.004
# HELP carpd_router_state 1 for the router's current state, 0 for the others.
# TYPE carpd_router_state gauge
carpd_router_state{router="carp7",state="BACKUP"} 1
carpd_router_state{router="carp7",state="FAULT"} 0
carpd_router_state{router="carp7",state="INIT"} 0
carpd_router_state{router="carp7",state="MASTER"} 0
# HELP carpd_router_state_since_timestamp_seconds When the router entered its current state.
# TYPE carpd_router_state_since_timestamp_seconds gauge
carpd_router_state_since_timestamp_seconds{router="carp7"} 1.7735000015e+09
# HELP carpd_router_transitions_total State changes of the router.
# TYPE carpd_router_transitions_total counter
carpd_router_transitions_total{router="carp7"} 4
# HELP carpd_socket_dropped_total Packets on a shared socket for no configured router.
# TYPE carpd_socket_dropped_total counter
carpd_socket_dropped_total{family="4",group="224.0.0.18",iface="eth0",reason="vhid",src="198.18.0.1"} 9
carpd_socket_dropped_total{family="6",group="unicast",iface="eth1",reason="short",src="2001:2::1"} 1
`
	var got strings.Builder
	if err := write(&got, collect(static(report()))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimPrefix(want, "\n"), got.String()); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
}

// TestCollectWithoutSections exports no broker, NAT or probe metric
// without a supervised broker.
func TestCollectWithoutSections(t *testing.T) {
	r := report()
	r.Broker = nil
	count := map[string]int{}
	for _, f := range collect(static(r)) {
		count[f.name] += len(f.samples)
	}
	for _, name := range []string{"carpd_broker_ready", "carpd_broker_restarts_total", "carpd_nat_rules",
		"carpd_probe_ok", "carpd_probe_latency_seconds"} {
		if n := count[name]; n != 0 {
			t.Errorf("%s: %d samples without its section", name, n)
		}
	}
	if n := count["carpd_router_state"]; n != 4 {
		t.Errorf("carpd_router_state: %d samples, want 4", n)
	}
}

// TestCollectFault shows a router held down by a fault as FAULT, not
// INIT, as keepalived's operators expect.
func TestCollectFault(t *testing.T) {
	r := report()
	r.Routers[0].State, r.Routers[0].Faults = "FAULT", []string{"link down"}
	got := map[string]float64{}
	for _, f := range collect(static(r)) {
		if f.name != "carpd_router_state" {
			continue
		}
		for _, s := range f.samples {
			got[s.labels[1].value] = s.value
		}
	}
	want := map[string]float64{"INIT": 0, "BACKUP": 0, "MASTER": 0, "FAULT": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("carpd_router_state by state (-want +got):\n%s", diff)
	}
}

// TestServer serves /metrics on a kernel-chosen port and closes.
func TestServer(t *testing.T) {
	s, err := Listen("127.0.0.1:0", static(report()), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`carpd_router_state{router="carp7",state="BACKUP"} 1`, "go_goroutines ",
		"process_open_fds "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/metrics"); err == nil {
		t.Errorf("still serving after Close")
	}
	if _, err := Listen("no-port", static(report()), slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("Listen accepted an address without a port")
	}
}

// TestCollectReload exports 1 after a successful reload (or none), and
// no reload metrics before the daemon runs (no Config).
func TestCollectReload(t *testing.T) {
	value := func(r status.Report, name string) (float64, bool) {
		for _, f := range collect(static(r)) {
			if f.name == name {
				return f.samples[0].value, true
			}
		}
		return 0, false
	}
	r := report()
	r.Config.ReloadError = ""
	if v, ok := value(r, "carpd_config_last_reload_successful"); !ok || v != 1 {
		t.Errorf("after a good reload: %v (present %v), want 1", v, ok)
	}
	r.Config = nil
	if _, ok := value(r, "carpd_config_last_reload_successful"); ok {
		t.Errorf("exported without a running configuration")
	}
}

// TestCollectPeer shows the heartbeat's view: dual-master time, the age
// of the peer's heartbeat and the lost-adverts episodes; none of it
// without the Peer section.
func TestCollectPeer(t *testing.T) {
	r := report()
	r.Routers[0].Peer = &status.Peer{SplitBrain: "resolve", At: at, Age: status.Duration(150 * time.Millisecond),
		AdvertsLost: true, AdvertsLostTotal: 2, DualSeconds: 0.4}
	got := map[string]float64{}
	for _, f := range collect(static(r)) {
		for _, s := range f.samples {
			if len(s.labels) > 0 && s.labels[0].value == "carp7" {
				got[f.name] = s.value
			}
		}
	}
	want := map[string]float64{"carpd_split_brain_seconds_total": 0.4, "carpd_peer_heartbeat_age_seconds": 0.15,
		"carpd_peer_adverts_lost": 1, "carpd_peer_adverts_lost_total": 2}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	r.Routers[0].Peer = nil
	for _, f := range collect(static(r)) {
		if _, ok := want[f.name]; ok {
			t.Errorf("%s present without a Peer section", f.name)
		}
	}
}

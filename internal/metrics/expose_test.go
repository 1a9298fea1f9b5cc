package metrics

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestFormatFloat spells values as the exposition format does.
func TestFormatFloat(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-1, "-1"}, {0.25, "0.25"}, {1773500001.5, "1.7735000015e+09"},
		{1e21, "1e+21"}, {123456, "123456"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := formatFloat(tt.v); got != tt.want {
			t.Errorf("formatFloat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestWrite checks escaping and ordering: families by name, labels by
// name, samples by label values, empty families left out.
func TestWrite(t *testing.T) {
	fams := []family{
		{name: "z_total", help: "Back\\slash and\nnewline.", kind: counter, samples: []sample{
			{labels: []label{{"b", "2"}, {"a", "y"}}, value: 3},
			{labels: []label{{"b", "1"}, {"a", "x\"q\\\n"}}, value: math.Inf(1)},
		}},
		{name: "empty", help: "No samples.", kind: gauge},
		single("a", "First.", gauge, math.NaN()),
	}
	want := `# HELP a First.
# TYPE a gauge
a NaN
# HELP z_total Back\\slash and\nnewline.
# TYPE z_total counter
z_total{a="x\"q\\\n",b="1"} +Inf
z_total{a="y",b="2"} 3
`
	var got strings.Builder
	if err := write(&got, fams); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.String()); diff != "" {
		t.Errorf("write (-want +got):\n%s", diff)
	}
}

// tricky holds every character label values must escape.
const tricky = "a\"b\\c\nd"

// wantTypes is the type of every family /metrics serves for report()
// with a broker; process_* ones only on Linux.
func wantTypes() map[string]dto.MetricType {
	g, c := dto.MetricType_GAUGE, dto.MetricType_COUNTER
	m := map[string]dto.MetricType{
		"carpd_router_info": g, "carpd_router_state": g, "carpd_router_state_since_timestamp_seconds": g,
		"carpd_router_transitions_total": c, "carpd_router_last_transition_duration_seconds": g,
		"carpd_router_adverts_sent_total": c, "carpd_router_advert_send_errors_total": c,
		"carpd_router_adverts_received_total": c, "carpd_router_adverts_dropped_total": c,
		"carpd_router_garp_rounds_total": c, "carpd_router_demotion": g, "carpd_socket_dropped_total": c,
		"carpd_broker_ready": g, "carpd_broker_restarts_total": c, "carpd_broker_time_to_ready_seconds": g,
		"carpd_nat_rules": g, "carpd_probe_ok": g, "carpd_probe_latency_seconds": g, "carpd_probe_failures": g,
		"carpd_probe_last_success_timestamp_seconds": g, "carpd_build_info": g,
		"carpd_config_last_reload_successful": g, "carpd_config_last_reload_success_timestamp_seconds": g,
		"carpd_hook_failures_total": c,
		"go_goroutines":             g, "go_threads": g, "go_info": g, "go_memstats_alloc_bytes": g, "go_memstats_sys_bytes": g,
	}
	if runtime.GOOS == "linux" {
		for _, n := range []string{"process_open_fds", "process_max_fds", "process_virtual_memory_bytes",
			"process_resident_memory_bytes", "process_start_time_seconds"} {
			m[n] = g
		}
		m["process_cpu_seconds_total"] = c
	}
	return m
}

// scrapeServer serves src on a kernel-chosen port and parses one scrape
// with Prometheus's own parser.
func scrapeServer(t *testing.T, src Source) map[string]*dto.MetricFamily {
	t.Helper()
	s, err := Listen("127.0.0.1:0", src, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "http://" + s.Addr().String() + "/metrics"
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %s, want 405", resp.Status)
	}
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Type"); got != ContentType {
		t.Errorf("Content-Type %q, want %q", got, ContentType)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// TestExposition parses a whole scrape with expfmt: every family is there
// with its type, nothing else is, and label values with '"', '\' and
// newlines round-trip.
func TestExposition(t *testing.T) {
	r := report()
	r.Routers[0].Name = tricky
	r.Routers[0].Counters.Dropped[tricky] = 6
	r.Sockets[0].Src = tricky
	fams := scrapeServer(t, static(r))

	got := map[string]dto.MetricType{}
	for name, f := range fams {
		got[name] = f.GetType()
	}
	if diff := cmp.Diff(wantTypes(), got); diff != "" {
		t.Errorf("families and types (-want +got):\n%s", diff)
	}
	if v := labelValues(fams["go_info"], "version"); !cmp.Equal(v, []string{runtime.Version()}) {
		t.Errorf("go_info versions %q, want %q", v, runtime.Version())
	}
	for _, tt := range []struct{ name, label string }{
		{"carpd_router_info", "router"}, {"carpd_router_adverts_dropped_total", "reason"},
		{"carpd_socket_dropped_total", "src"},
	} {
		if v := labelValues(fams[tt.name], tt.label); !strings.Contains(strings.Join(v, "|"), tricky) {
			t.Errorf("%s: %s values %q lack %q", tt.name, tt.label, v, tricky)
		}
	}
}

// labelValues lists the values of label name in f's samples.
func labelValues(f *dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}

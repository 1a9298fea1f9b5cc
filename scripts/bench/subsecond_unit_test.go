//go:build linux

package bench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseEpoch(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1764856000.123456":    time.Unix(1764856000, 123456000),
		"1764856000.123456789": time.Unix(1764856000, 123456789),
		"1764856000":           time.Unix(1764856000, 0),
	} {
		got, err := parseEpoch(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseEpoch(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "IP", "12.x"} {
		if _, err := parseEpoch(in); err == nil {
			t.Errorf("parseEpoch(%q): no error", in)
		}
	}
}

func TestCarpdEvents(t *testing.T) {
	log := `{"time":"2026-12-04T13:00:00.5Z","level":"INFO","msg":"transition","from":"INIT","to":"BACKUP"}
{"time":"2026-12-04T13:00:01Z","level":"DEBUG","msg":"transition step","step":"vips","to":"MASTER"}
{"time":"2026-12-04T13:00:01.25Z","level":"INFO","msg":"transition","from":"BACKUP","to":"MASTER"}
not json
{"time":"2026-12-04T13:00:02Z","level":"WARN","msg":"transition done with failures","from":"MASTER","to":"BACKUP"}
`
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339Nano, s); return tm }
	want := []subEvent{{at("2026-12-04T13:00:00.5Z"), false}, {at("2026-12-04T13:00:01.25Z"), true},
		{at("2026-12-04T13:00:02Z"), false}}
	if diff := cmp.Diff(want, carpdEvents(log), cmp.AllowUnexported(subEvent{})); diff != "" {
		t.Errorf("carpdEvents (-want +got):\n%s", diff)
	}
}

func TestEntriesAndMasterTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	// MASTER 1..3 (before and into the window), 5..6, and from 9 on.
	ev := []subEvent{{s(1), true}, {s(3), false}, {s(5), true}, {s(6), false}, {s(9), true}}
	for _, tc := range []struct {
		from, to float64
		entries  int
		master   time.Duration
	}{
		{0, 10, 3, 4 * time.Second},
		{2, 10, 2, 3 * time.Second},
		{3, 9, 1, time.Second},
		{6.5, 8, 0, 0},
		{9.5, 12, 0, 2500 * time.Millisecond},
	} {
		if got := entries(ev, s(tc.from), s(tc.to)); got != tc.entries {
			t.Errorf("entries in [%v, %v) = %d, want %d", tc.from, tc.to, got, tc.entries)
		}
		if got := masterTime(ev, s(tc.from), s(tc.to)); got != tc.master {
			t.Errorf("masterTime in [%v, %v) = %v, want %v", tc.from, tc.to, got, tc.master)
		}
	}
}

func TestJitter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var at []time.Time
	// 101 adverts 50 ms apart, one of them 30 ms late (so one gap of
	// 80 ms and the next of 20 ms), and one before the window.
	at = append(at, t0.Add(-time.Second))
	for i := range 101 {
		d := time.Duration(i) * 50 * time.Millisecond
		if i == 40 {
			d += 30 * time.Millisecond
		}
		at = append(at, t0.Add(d))
	}
	got := jitter(at, t0, t0.Add(10*time.Second))
	want := Jitter{WindowS: 10, Adverts: 101, MinMS: 20, P50MS: 50, P99MS: 50, MaxMS: 80}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jitter (-want +got):\n%s", diff)
	}
	if got := jitter(at[:1], t0, t0.Add(time.Second)); got.Adverts != 0 || got.MaxMS != 0 {
		t.Errorf("jitter of an empty window = %+v", got)
	}
	if r := rank([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99); r != 10 {
		t.Errorf("p99 of 1..10 = %v, want 10", r)
	}
}

// TestDropPicked: a partial re-measurement removes exactly the picked
// systems' rows; no prefixes pick every system.
func TestDropPicked(t *testing.T) {
	s := Subsecond{
		Stability: []Stability{{System: "carpd CARP"}, {System: "ucarp"}, {System: "carpd VRRPv3"}},
		Takeovers: []SubTakeover{{System: "keepalived VRRPv3"}, {System: "carpd CARP"}},
		Jitter:    []Jitter{{System: "carpd VRRPv3"}, {System: "keepalived VRRPv3"}},
	}
	s.drop([]string{"carpd"})
	var got []string
	for _, r := range s.Stability {
		got = append(got, r.System)
	}
	for _, r := range s.Takeovers {
		got = append(got, r.System)
	}
	for _, r := range s.Jitter {
		got = append(got, r.System)
	}
	if want := "ucarp,keepalived VRRPv3,keepalived VRRPv3"; strings.Join(got, ",") != want {
		t.Errorf("left %q, want %q", strings.Join(got, ","), want)
	}
	if !picked(nil, "ucarp") || picked([]string{"carpd", "keep"}, "ucarp") {
		t.Error("picked: nil must pick every system, and only the prefixes")
	}
}

func TestJudgeCostAndJitter(t *testing.T) {
	row := func(sys, timer, node string, sched, rss float64) CostRow {
		return CostRow{System: sys, Timer: timer, Node: node, Sched: Stats{N: 3, Median: sched}, RSSMiB: rss}
	}
	got := judgeCost(&Cost{Rows: []CostRow{
		row("carpd VRRPv3", "100ms", "master", 0.2, 11), row("carpd VRRPv3", "100ms", "backup", 0.05, 11),
		row("keepalived VRRPv3", "100ms", "master", 0.15, 13), row("keepalived VRRPv3", "100ms", "backup", 0.05, 13),
		row("carpd+probe VRRPv3", "1s", "master", 0.3, 15), // no keepalived at 1s: no line
	}})
	want := []string{
		"CPU, carpd VRRPv3 100ms master: 0.200 % vs keepalived's 0.150 % (schedstat medians): **missed**; RSS 11.0 vs 13.0 MiB: **met**",
		"CPU, carpd VRRPv3 100ms backup: 0.050 % vs keepalived's 0.050 % (schedstat medians): **met**; RSS 11.0 vs 13.0 MiB: **met**",
	}
	if !slices.Equal(got, want) {
		t.Errorf("judgeCost:\n got %q\nwant %q", got, want)
	}
	if got := judgeCost(nil); len(got) != 1 || !strings.Contains(got[0], "not measured") {
		t.Errorf("judgeCost(nil) = %q", got)
	}
	j := judgeSubsecond(&Subsecond{Jitter: []Jitter{
		{System: "carpd VRRPv3", Timer: "50ms", Load: "idle", P99MS: 52},
		{System: "carpd VRRPv3", Timer: "50ms", Load: "loaded", P99MS: 51.8},
		{System: "keepalived VRRPv3", Timer: "50ms", Load: "idle", P99MS: 50.4},
		{System: "keepalived VRRPv3", Timer: "50ms", Load: "loaded", P99MS: 54.4},
		{System: "carpd CARP", Timer: "advbase 0", Load: "idle", P99MS: 102},
	}})
	want = []string{
		"Send jitter, carpd VRRPv3 50ms idle: p99 gap 52.0 ms vs keepalived's 50.4 ms: **missed**",
		"Send jitter, carpd VRRPv3 50ms loaded: p99 gap 51.8 ms vs keepalived's 54.4 ms: **met**",
	}
	if !slices.Equal(j, want) {
		t.Errorf("jitter judge:\n got %q\nwant %q", j, want)
	}
}

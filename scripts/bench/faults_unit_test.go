//go:build linux

package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/mqttstream"
	"github.com/google/go-cmp/cmp"
)

func TestVIPTimesAndMACChanges(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ss := []vipSample{
		{at: at(0), vip: [2]bool{true, false}, mac: "a"},
		{at: at(10), vip: [2]bool{true, true}, mac: "a"},
		{at: at(30), vip: [2]bool{true, true}, mac: "b"},
		{at: at(40), vip: [2]bool{false, false}, mac: ""},
		{at: at(70), vip: [2]bool{false, true}, mac: "b"},
		{at: at(80), vip: [2]bool{true, false}, mac: "a"},
	}
	dual, none := vipTimes(ss)
	if dual != 30*time.Millisecond || none != 30*time.Millisecond {
		t.Errorf("vipTimes = %v, %v; want 30ms, 30ms", dual, none)
	}
	// a→b, b gone and back (no change), b→a.
	if got := macChanges(ss, "a"); got != 2 {
		t.Errorf("macChanges from a = %d, want 2", got)
	}
	// Without an entry before, the first MAC seen is no change.
	if got := macChanges(ss, ""); got != 2 {
		t.Errorf("macChanges from none = %d, want 2", got)
	}
	if got := macChanges(ss, "c"); got != 3 {
		t.Errorf("macChanges from c = %d, want 3", got)
	}
}

func TestLongestGapAndLost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var as []mqttstream.Arrival
	for _, a := range [][2]int{{1, 0}, {2, 10}, {4, 500}, {5, 510}, {3, 520}, {7, 600}} {
		as = append(as, mqttstream.Arrival{Seq: a[0], At: at(a[1])})
	}
	// The gap from 10 to 500 begins in [0, 100); in [100, 700) the
	// longest is the tail from the last arrival (600) to the end.
	if got := longestGap(as, at(0), at(100), at(700), false); got != 490*time.Millisecond {
		t.Errorf("gap in the first window = %v, want 490ms", got)
	}
	if got := longestGap(as, at(100), at(700), at(700), false); got != 100*time.Millisecond {
		t.Errorf("gap in the second window = %v, want 100ms (the tail)", got)
	}
	if got := longestGap(as, at(100), at(700), at(1000), false); got != 400*time.Millisecond {
		t.Errorf("gap with a later end = %v, want 400ms", got)
	}
	// A gap open at the window's start counts only when asked: 10 to
	// 500 is open at 300.
	if got := longestGap(as, at(300), at(505), at(700), false); got != 10*time.Millisecond {
		t.Errorf("gap without spanning = %v, want 10ms", got)
	}
	if got := longestGap(as, at(300), at(505), at(700), true); got != 490*time.Millisecond {
		t.Errorf("gap with spanning = %v, want 490ms", got)
	}
	if got := lostBetween(as, 0, 8); got != 2 {
		t.Errorf("lostBetween(0, 8) = %d, want 2 (6 and 8)", got)
	}
	if got := lostBetween(as, 2, 5); got != 0 {
		t.Errorf("lostBetween(2, 5) = %d, want 0", got)
	}
}

func TestMergeFaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.json")
	row := func(sys, fault string, pct int, dual float64) FaultTrial {
		return FaultTrial{System: sys, Timer: "1s", Fault: fault, LossPct: pct, DualMS: dual}
	}
	a := FaultPass{Started: "a", Command: "first"}
	b := FaultPass{Started: "b", Command: "second"}
	if _, err := mergeFaults(path, a, []FaultTrial{row("ucarp", "a", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	// A second pass, side by side: its rows join the first one's.
	if _, err := mergeFaults(path, b, []FaultTrial{row("ucarp", "j", 1, 2)}); err != nil {
		t.Fatal(err)
	}
	// The first pass saves again with one more row: the second's stay.
	if _, err := mergeFaults(path, a, []FaultTrial{row("ucarp", "a", 0, 1), row("ucarp", "b", 0, 3)}); err != nil {
		t.Fatal(err)
	}
	// A later pass re-measures cell a: it replaces the first pass's row.
	c := FaultPass{Started: "c", Command: "third"}
	run, err := mergeFaults(path, c, []FaultTrial{row("ucarp", "a", 0, 4)})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		fault string
		pct   int
		dual  float64
		pass  int
	}
	var got []key
	for _, r := range run.Trials {
		got = append(got, key{r.Fault, r.LossPct, r.DualMS, r.Pass})
	}
	want := []key{{"j", 1, 2, 1}, {"b", 0, 3, 0}, {"a", 0, 4, 2}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(key{})); diff != "" {
		t.Errorf("merged rows (-want +got):\n%s", diff)
	}
	if len(run.Passes) != 3 || run.Passes[1].Command != "second" {
		t.Errorf("passes %+v", run.Passes)
	}
}

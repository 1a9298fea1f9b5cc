package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLogReaderCounts(t *testing.T) {
	var r logReader
	// Lines as carpd and the Go runtime write them, split mid-line the
	// way a read of a growing file can.
	text := `{"time":"t","level":"INFO","msg":"transition","router":"mqtt","from":"INIT","to":"BACKUP"}
{"time":"t","level":"INFO","msg":"transition","router":"mqtt","from":"BACKUP","to":"MASTER"}
gc 1 @2.015s 0%: 0.021+0.51+0.004 ms clock, 0.043+0.12/0.30/0.22+0.009 ms cpu, 3->3->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
{"time":"t","level":"INFO","msg":"broker not restarted: started since this node last served as master","started":"x"}
{"time":"t","level":"WARN","msg":"transition done with failures","from":"MASTER","to":"BACKUP","failed":["x"]}
scav 128 KiB work (bg), 0 KiB work (eager), 2176 KiB now, 61% util
{"time":"t","level":"INFO","msg":"broker restarted","reason":"promotion"}
gc 2 @122.5s 0%: 0.02+0.4+0.003 ms clock, 0.04+0/0.3/0.2+0.006 ms cpu, 7->7->2 MB, 8 MB goal, 1 MB stacks, 0 MB globals, 2 P (forced)
{"time":"t","level":"INFO","msg":"transition","to":"MAS`
	r.feed([]byte(text[:100]))
	r.feed([]byte(text[100:]))
	want := SoakCounts{ToMaster: 1, ToBackup: 2, Failed: 1, Restarted: 1, NotRestarted: 1, State: "BACKUP", GC: 2,
		LastGC: GCLine{N: 2, AtS: 122.5, StartMiB: 7, EndMiB: 7, LiveMiB: 2, GoalMiB: 8, StacksMiB: 1, Forced: true},
		Scav:   ScavLine{ReleasedKiB: 2176, UtilPct: 61}}
	if diff := cmp.Diff(want, r.SoakCounts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// The unfinished last line counts once its newline arrives.
	r.feed([]byte("TER\"}\n"))
	if r.ToMaster != 2 || r.State != "MASTER" {
		t.Errorf("after the line's end: ToMaster %d, State %q", r.ToMaster, r.State)
	}
}

func TestParseMetrics(t *testing.T) {
	m := parseMetrics("# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 37\n" +
		`carpd_router_transitions_total{router="mqtt"} 12` + "\ngo_memstats_alloc_bytes 1.5e+06\nbroken\n")
	want := map[string]float64{"go_goroutines": 37, `carpd_router_transitions_total{router="mqtt"}`: 12,
		"go_memstats_alloc_bytes": 1.5e6}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestSoakEnv(t *testing.T) {
	got, err := soakEnv("GOGC=50 GODEBUG=madvdontneed=1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GODEBUG=" + soakGODEBUG + ",madvdontneed=1", "GOGC=50"}; !cmp.Equal(want, got) {
		t.Errorf("soakEnv = %q, want %q", got, want)
	}
	if _, err := soakEnv("GOGC"); err == nil {
		t.Error("soakEnv accepted a word without =")
	}
}

// soakRun is a finished 4-minute run whose second half starts at minute
// 2, with both nodes' memory and counts set by the test.
func soakRun(anon [5]int64, goroutines [5]int) SoakRun {
	run := SoakRun{DurationS: 240, Demotes: 24, Undos: 24}
	for i := range 5 {
		p := SoakProc{RSSKiB: 10000 + anon[i], AnonKiB: anon[i], FDs: 20, Goroutines: goroutines[i]}
		run.Samples = append(run.Samples, SoakSample{Minute: float64(i), Nodes: [2]SoakProc{p, p}})
	}
	run.Baseline = [2]SoakCounts{{ToMaster: 1, ToBackup: 1}, {ToBackup: 1}}
	run.Final = [2]SoakCounts{{ToMaster: 25, ToBackup: 25}, {ToMaster: 24, ToBackup: 25}}
	return run
}

func TestJudgeSoak(t *testing.T) {
	// Growth before the half does not count; after it, up to 1 MiB.
	v := judgeSoak(soakRun([5]int64{3000, 8000, 8200, 9000, 9224}, [5]int{30, 36, 36, 37, 36}))
	if !v.Pass || v.HalfMinute != 2 || v.AnonGrowthKiB[0] != 1024 || v.Lost != 0 || v.Expected != 96 {
		t.Errorf("levelling run judged %+v", v)
	}
	v = judgeSoak(soakRun([5]int64{3000, 8000, 8200, 9000, 9225}, [5]int{30, 36, 36, 37, 36}))
	if v.Pass || !strings.Contains(strings.Join(v.Failures, ";"), "RssAnon grew 1025 KiB") {
		t.Errorf("growing run judged %+v", v)
	}
	v = judgeSoak(soakRun([5]int64{3000, 3000, 3000, 3000, 3000}, [5]int{30, 36, 36, 38, 39}))
	if v.Pass || !strings.Contains(strings.Join(v.Failures, ";"), "goroutines 36..39") {
		t.Errorf("goroutine leak judged %+v", v)
	}
	run := soakRun([5]int64{3000, 3000, 3000, 3000, 3000}, [5]int{36, 36, 36, 36, 36})
	run.Final[1].ToMaster = 23
	run.Leftovers = []string{"n1 holds 198.18.0.30"}
	v = judgeSoak(run)
	if v.Pass || v.Lost != 1 || len(v.Failures) != 2 {
		t.Errorf("lost transition and leftover judged %+v", v)
	}
	if v := judgeSoak(SoakRun{DurationS: 60}); v.Pass {
		t.Errorf("a run without samples passed: %+v", v)
	}
}

func TestSplitAnon(t *testing.T) {
	// The shape of a static Go 1.26 binary's smaps (fields trimmed): text,
	// rodata, data and bss; a randomised heap arena mapped in three
	// parts; the runtime's other reservations, the main thread's stack.
	const smaps = `00400000-004ab000 r-xp 00000000 fe:00 247278 /usr/sbin/carpd
Anonymous:             0 kB
0058e000-00599000 rw-p 0018e000 fe:00 247278 /usr/sbin/carpd
Rss:                  44 kB
Anonymous:            16 kB
00599000-005cf000 rw-p 00000000 00:00 0
Anonymous:            68 kB
348474000000-348475400000 ---p 00000000 00:00 0
Anonymous:             0 kB
348475400000-348475c00000 rw-p 00000000 00:00 0
Anonymous:           456 kB
348475c00000-348478000000 ---p 00000000 00:00 0
Anonymous:             0 kB
7fd64e9a0000-7fd64eb00000 rw-p 00000000 00:00 0
Anonymous:             4 kB
7fd64eb00000-7fd650c00000 rw-p 00000000 00:00 0
Anonymous:             8 kB
7fd695445000-7fd6954f7000 rw-p 00000000 00:00 0
Anonymous:            60 kB
7ffef1b6a000-7ffef1b8b000 rw-p 00000000 00:00 0 [stack]
Anonymous:            16 kB
`
	want := AnonSplit{HeapKiB: 456, BinaryKiB: 84, OtherKiB: 88}
	if got := splitAnon(smaps, "/usr/sbin/carpd"); got != want {
		t.Errorf("splitAnon = %+v, want %+v", got, want)
	}
}

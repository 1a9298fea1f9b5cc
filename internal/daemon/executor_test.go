package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/google/go-cmp/cmp"
)

// execProbe records what an executor reported.
type execProbe struct {
	logs   *syncBuffer
	mu     sync.Mutex
	claims []bool
}

func (p *execProbe) claimed(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = append(p.claims, ok)
}

// newTestExecutor runs an executor for spec on fn (a fresh fake node if
// nil). The caller closes it and waits for done.
func newTestExecutor(t *testing.T, spec *config.Router, fn *fakeNet) (*executor, *execProbe) {
	t.Helper()
	if fn == nil {
		fn = newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
	}
	addrs, _ := fn.Addrs("eth0")
	ann, _ := fn.Announcer("eth0")
	p := &execProbe{logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newExecutor(context.Background(), log, spec, addrs, ann, "eth0:test", &counters{}, p.claimed)
	go e.run()
	t.Cleanup(func() {
		e.close()
		<-e.done
		if t.Failed() {
			t.Logf("executor logs:\n%s", p.logs.String())
		}
	})
	return e, p
}

// runSteps runs jobs on e to its end, then compares the trace with want and
// the steps logged as failed with failed.
func runSteps(t *testing.T, e *executor, p *execProbe, tr *tracer, jobs []job, want, failed []string) {
	t.Helper()
	for _, j := range jobs {
		j.queued = time.Now()
		e.enqueue(j)
	}
	e.close()
	<-e.done
	if diff := cmp.Diff(want, tr.lines()); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	var got []string
	for _, rec := range p.logs.records("transition step failed") {
		got = append(got, rec["step"].(string))
	}
	if diff := cmp.Diff(failed, got); diff != "" {
		t.Errorf("steps logged as failed (-want +got):\n%s", diff)
	}
}

// TestExecutorSteps checks the order of each transition's steps and that
// a failing step neither stops the others nor goes unlogged.
func TestExecutorSteps(t *testing.T) {
	const v1, v2 = "198.18.0.100/32", "198.18.0.101/32"
	promote := job{kind: jobPromote, from: carp.Backup, to: carp.Master, notify: "MASTER", prio: 100}
	demote := job{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", prio: 100, downHooks: true}
	tests := []struct {
		name     string
		byScript bool
		failAdd  bool
		failUp   bool
		jobs     []job
		want     []string
		failed   []string // steps logged as failed
		claims   []bool
	}{
		{
			name: "promotion", jobs: []job{promote}, claims: []bool{true},
			want: []string{"add " + v1, "add " + v2, "announce [198.18.0.100 198.18.0.101]",
				"up MASTER eth0 198.18.0.100", "up MASTER eth0 198.18.0.101", "notify MASTER INSTANCE vr MASTER 100"},
		},
		{
			// ucarp order: the script adds the address, then GARP.
			name: "promotion, VIPs by scripts", byScript: true, jobs: []job{promote},
			want: []string{"up MASTER eth0 198.18.0.100", "up MASTER eth0 198.18.0.101",
				"announce [198.18.0.100 198.18.0.101]", "notify MASTER INSTANCE vr MASTER 100"},
		},
		{
			name: "demotion from MASTER", jobs: []job{promote, demote}, claims: []bool{true},
			want: []string{"add " + v1, "add " + v2, "announce [198.18.0.100 198.18.0.101]",
				"up MASTER eth0 198.18.0.100", "up MASTER eth0 198.18.0.101", "notify MASTER INSTANCE vr MASTER 100",
				"remove " + v1, "remove " + v2, "down BACKUP eth0 198.18.0.100", "down BACKUP eth0 198.18.0.101",
				"notify BACKUP INSTANCE vr BACKUP 100"},
		},
		{
			name: "first BACKUP without down hooks",
			jobs: []job{{kind: jobDemote, from: carp.Init, to: carp.Backup, notify: "BACKUP", prio: 90}},
			want: []string{"remove " + v1, "remove " + v2, "notify BACKUP INSTANCE vr BACKUP 90"},
		},
		{
			name: "failed claim runs the rest and reports", failAdd: true, jobs: []job{promote},
			failed: []string{"vip-add"}, claims: []bool{false},
			want: []string{"add " + v1, "add " + v2, "announce [198.18.0.100 198.18.0.101]",
				"up MASTER eth0 198.18.0.100", "up MASTER eth0 198.18.0.101", "notify MASTER INSTANCE vr MASTER 100"},
		},
		{
			name: "failing up hook", failUp: true, jobs: []job{promote}, failed: []string{"up-hooks"}, claims: []bool{true},
			want: []string{"add " + v1, "add " + v2, "announce [198.18.0.100 198.18.0.101]",
				"notify MASTER INSTANCE vr MASTER 100"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracer(t)
			fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
			fn.trace = tr
			if tt.failAdd {
				fn.failAdd = errors.New("operation not permitted")
			}
			spec := vrrpRouter("vr", 7, 100, v1, v2)
			spec.VIPByScripts = tt.byScript
			spec.Hooks = config.Hooks{Up: traceScript(t, tr, "up"), Down: traceScript(t, tr, "down"),
				Notify: traceScript(t, tr, "notify")}
			if tt.failUp {
				spec.Hooks.Up = []string{"sh", "-c", "echo broken >&2; exit 1"}
			}
			e, p := newTestExecutor(t, &spec, fn)
			runSteps(t, e, p, tr, tt.jobs, tt.want, tt.failed)
			var fails map[string]uint64
			if tt.failUp {
				fails = map[string]uint64{"up": 2} // once per VIP
			}
			if diff := cmp.Diff(fails, e.hookFails.counts()); diff != "" {
				t.Errorf("hook failures (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.claims, p.claims); diff != "" {
				t.Errorf("claim reports (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExecutorSerialisesHooks queues two transitions whose hooks take a
// while: the second starts only after the first has finished.
func TestExecutorSerialisesHooks(t *testing.T) {
	tr := newTracer(t)
	spec := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	spec.VIPByScripts = true
	spec.Hooks.Notify = []string{"sh", "-c", `echo "start $3" >> "$0"; sleep 0.2; echo "end $3" >> "$0"`, tr.path}
	e, _ := newTestExecutor(t, &spec, nil)
	e.enqueue(job{kind: jobPromote, to: carp.Master, notify: "MASTER", queued: time.Now()})
	e.enqueue(job{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", queued: time.Now()})
	e.close()
	<-e.done
	want := []string{"start MASTER", "end MASTER", "start BACKUP", "end BACKUP"}
	if diff := cmp.Diff(want, tr.lines()); diff != "" {
		t.Errorf("hook order (-want +got):\n%s", diff)
	}
}

// TestExecutorHookTimeout kills a hanging hook and carries on.
func TestExecutorHookTimeout(t *testing.T) {
	tr := newTracer(t)
	spec := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	spec.Hooks = config.Hooks{Up: []string{"sh", "-c", "sleep 30"}, Notify: traceScript(t, tr, "notify"), Timeout: 200 * time.Millisecond}
	e, p := newTestExecutor(t, &spec, nil)
	start := time.Now()
	e.enqueue(job{kind: jobPromote, to: carp.Master, notify: "MASTER", prio: 100, queued: start})
	e.close()
	<-e.done
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("promotion took %v with a 200ms hook timeout", took)
	}
	if diff := cmp.Diff([]string{"notify MASTER INSTANCE vr MASTER 100"}, tr.lines()); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	recs := p.logs.records("transition step failed")
	if len(recs) != 1 || recs[0]["step"] != "up-hooks" || !strings.Contains(recs[0]["error"].(string), "timed out after 200ms") {
		t.Errorf("failed-step logs %v, want up-hooks timed out", recs)
	}
}

// TestExecutorAnnounceSchedule checks the GARP burst, the delayed burst,
// and that leaving MASTER cancels what is still pending.
func TestExecutorAnnounceSchedule(t *testing.T) {
	tests := []struct {
		name   string
		garp   config.GARP
		demote time.Duration // demote this long after the claim; 0 = never
		want   int
	}{
		{"burst of 3", config.GARP{Repeat: 3, Interval: 20 * time.Millisecond}, 0, 3},
		{"burst and delayed burst", config.GARP{Repeat: 2, Interval: 20 * time.Millisecond, Delay: 100 * time.Millisecond}, 0, 4},
		{"repeat 0 sends none", config.GARP{Interval: time.Millisecond, Delay: time.Millisecond, Refresh: time.Millisecond}, 0, 0},
		{"demotion cancels", config.GARP{Repeat: 3, Interval: 200 * time.Millisecond, Delay: 200 * time.Millisecond}, 50 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// In a synctest bubble the schedule runs on a fake clock: the
			// counts do not depend on the machine's load.
			synctest.Test(t, func(t *testing.T) {
				fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
				spec := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
				spec.GARP = tt.garp
				e, _ := newTestExecutor(t, &spec, fn)
				e.enqueue(job{kind: jobPromote, to: carp.Master, notify: "MASTER", queued: time.Now()})
				if tt.demote > 0 {
					time.Sleep(tt.demote)
					e.enqueue(job{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", queued: time.Now()})
				}
				time.Sleep(600 * time.Millisecond)
				synctest.Wait()
				if got := fn.rounds("eth0"); got != tt.want {
					t.Errorf("%d announce rounds, want %d", got, tt.want)
				}
			})
		})
	}
}

// TestExecutorRefresh keeps announcing while MASTER, every Refresh, and
// stops at once on leaving MASTER (on synctest's fake clock).
func TestExecutorRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
		spec := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
		spec.GARP = config.GARP{Repeat: 1, Refresh: 50 * time.Millisecond}
		e, _ := newTestExecutor(t, &spec, fn)
		e.enqueue(job{kind: jobPromote, to: carp.Master, notify: "MASTER", queued: time.Now()})
		// The claim's round, then one every 50 ms: 5 rounds by 225 ms.
		time.Sleep(225 * time.Millisecond)
		synctest.Wait()
		if got := fn.rounds("eth0"); got != 5 {
			t.Fatalf("%d rounds 225 ms after the claim, want 5", got)
		}
		e.enqueue(job{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", queued: time.Now()})
		synctest.Wait()
		n := fn.rounds("eth0")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fn.rounds("eth0"); got != n {
			t.Errorf("rounds went from %d to %d after leaving MASTER", n, got)
		}
	})
}

// TestExecutorSupersededHook ends a hanging MASTER hook supersededGrace
// after a demotion is queued behind it, well before its own timeout, so
// the demotion's steps (VIP and DNAT removal) do not wait out a hung hook;
// the demotion's own hook then runs.
func TestExecutorSupersededHook(t *testing.T) {
	tr := newTracer(t)
	spec := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	spec.Hooks = config.Hooks{
		Master:  []string{"sh", "-c", `echo "master start" >> "$0"; exec sleep 30`, tr.path},
		Backup:  []string{"sh", "-c", `echo "backup" >> "$0"`, tr.path},
		Timeout: 30 * time.Second,
	}
	e, p := newTestExecutor(t, &spec, nil)
	e.enqueue(job{kind: jobPromote, to: carp.Master, notify: "MASTER", queued: time.Now()})
	// The hook is a real process: wait (bounded) until it runs.
	deadline := time.Now().Add(10 * time.Second)
	for len(tr.lines()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the MASTER hook did not start within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	queued := time.Now()
	e.enqueue(job{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", queued: queued})
	e.close()
	<-e.done
	took := time.Since(queued)
	t.Logf("the demotion finished %v after it was queued (grace %v)", took.Round(time.Millisecond), supersededGrace)
	if took < supersededGrace || took > supersededGrace+5*time.Second {
		t.Errorf("the demotion finished %v after it was queued, want the grace %v plus a little", took, supersededGrace)
	}
	if diff := cmp.Diff([]string{"master start", "backup"}, tr.lines()); diff != "" {
		t.Errorf("hooks run (-want +got):\n%s", diff)
	}
	recs := p.logs.records("transition step failed")
	if len(recs) != 1 || recs[0]["step"] != "notify" || !strings.Contains(recs[0]["error"].(string), "a newer transition was queued") {
		t.Errorf("failed-step logs %v, want the MASTER notify step ended as superseded", recs)
	}
}

package daemon

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// TestScriptRiseFall drives a track script through failure and recovery.
// The script logs each exit code it returns; at every report the trailing
// run of equal codes must be exactly Fall (failed) or Rise (OK) long.
func TestScriptRiseFall(t *testing.T) {
	dir := t.TempDir()
	state, runs := dir+"/state", dir+"/runs"
	setState := func(code string) {
		if err := os.WriteFile(state, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setState("0")
	def := config.TrackScript{Name: "chk", Argv: []string{"sh", "-c", `s=$(cat "$0"); echo $s >> "$1"; exit $s`, state, runs},
		// A timeout far above the interval: a run killed on a loaded
		// machine would count as a failure the script never reported.
		Interval: 20 * time.Millisecond, Timeout: 10 * time.Second, Rise: 2, Fall: 3, Weight: -10}
	type report struct {
		failed bool
		tail   []string // trailing equal exit codes at report time
	}
	reports := make(chan report, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&scriptTracker{def: def}).loop(ctx, func(failed bool, _ string, _ error) {
			reports <- report{failed, trailing(t, runs)}
		})
	}()
	waitFor(t, 5*time.Second, "5 runs", func() bool { return len(trailing(t, runs)) >= 5 })
	select {
	case r := <-reports:
		t.Fatalf("report %+v while the script succeeds: a tracker starts OK", r)
	default:
	}
	setState("1")
	failed := <-reports
	setState("0")
	got := []report{failed, <-reports}
	want := []report{{true, []string{"1", "1", "1"}}, {false, []string{"0", "0"}}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(report{})); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	cancel()
	<-done
}

// trailing returns the last run of equal lines of the runs file.
func trailing(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Fields(string(b))
	i := len(lines)
	for i > 0 && lines[i-1] == lines[len(lines)-1] {
		i--
	}
	return lines[i:]
}

// TestTrackingDemotes checks how trackers feed the demotion input of a
// running VRRP router (priority 100): a negative weight lowers priority
// by |w|, a positive one by w while failing, and weight 0 faults.
func TestTrackingDemotes(t *testing.T) {
	dir := t.TempDir()
	flag := dir + "/ok"
	r := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	r.TrackInterfaces = []config.TrackInterface{{Iface: "eth1", Weight: -30}, {Iface: "eth2", Weight: 0}}
	r.TrackScripts = []config.TrackScript{{Name: "file", Argv: []string{"test", "-e", flag}, Interval: 20 * time.Millisecond,
		Weight: 15}}
	tr := newTracer(t)
	r.Hooks.Notify = traceScript(t, tr, "notify")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1", "eth1": "198.18.1.1", "eth2": "198.18.2.1"})
	n := newNodeOn(t, fn, r).start()
	n.waitState("vr", "MASTER", 3*time.Second)
	prio := func() uint8 { return *n.router("vr").Advertised.Priority }
	if got := prio(); got != 100 {
		t.Fatalf("priority %d with every tracker OK, want 100", got)
	}

	fn.setLink("eth1", false)
	waitFor(t, 2*time.Second, "priority 70", func() bool { return prio() == 70 })
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "priority 55", func() bool { return prio() == 55 })
	if d := n.router("vr").Demotion; d != (status.Demotion{Tracking: 45, Total: 45}) {
		t.Errorf("demotion %+v, want tracking 45", d)
	}
	fn.setLink("eth1", true)
	waitFor(t, 2*time.Second, "priority 85", func() bool { return prio() == 85 })

	fn.setLink("eth2", false)
	n.waitState("vr", "FAULT", 2*time.Second)
	if got := n.router("vr").Faults; !slices.Equal(got, []string{"track interface eth2"}) {
		t.Errorf("faults %v, want the weight-0 tracker", got)
	}
	fn.setLink("eth2", true)
	n.waitState("vr", "MASTER", 3*time.Second)
	waitFor(t, time.Second, "notify lines", func() bool { return len(tr.lines()) >= 4 })
	want := []string{"notify BACKUP INSTANCE vr BACKUP 100", "notify MASTER INSTANCE vr MASTER 100",
		"notify FAULT INSTANCE vr FAULT 85", "notify BACKUP INSTANCE vr BACKUP 85"}
	if diff := cmp.Diff(want, tr.lines()[:4]); diff != "" {
		t.Errorf("notify calls (-want +got):\n%s", diff)
	}
}

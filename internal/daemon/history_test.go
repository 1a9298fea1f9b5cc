package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// TestStatusHistory elects a master between two daemons and reads, over
// the control socket, what status reports beyond the state: the advert
// the backup heard and each side's transitions with their steps.
func TestStatusHistory(t *testing.T) {
	seg := &segment{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	b := newNode(t, seg, "198.18.0.2", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	b.waitState("vr", "BACKUP", time.Second)
	waitFor(t, 2*time.Second, "a's promotion done", func() bool {
		ts := a.router("vr").Transitions
		return len(ts) == 2 && ts[1].Done
	})
	waitFor(t, time.Second, "an advert heard by b", func() bool { return b.router("vr").Heard != nil })

	type tr struct {
		From, To, Notify string
		Done             bool
		Steps            []string
	}
	brief := func(ts []status.Transition) []tr {
		var out []tr
		for _, x := range ts {
			t := tr{From: x.From, To: x.To, Notify: x.Notify, Done: x.Done}
			for _, s := range x.Steps {
				t.Steps = append(t.Steps, s.Name)
				if s.Error != "" {
					t.Steps = append(t.Steps, "error: "+s.Error)
				}
			}
			out = append(out, t)
		}
		return out
	}
	resp, err := control.Call(context.Background(), a.dir, control.Request{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	ra := resp.Status.Routers[0]
	want := []tr{
		{"INIT", "BACKUP", "BACKUP", true, []string{"await-claim", "vip-remove", "down-hooks", "notify"}},
		{"BACKUP", "MASTER", "MASTER", true, []string{"vip-add", "garp", "up-hooks", "notify"}},
	}
	if diff := cmp.Diff(want, brief(ra.Transitions)); diff != "" {
		t.Errorf("a's transitions (-want +got):\n%s", diff)
	}
	last := ra.Transitions[1]
	if !last.At.Equal(ra.Since) || last.Reason != ra.Reason {
		t.Errorf("last transition at %v for %q; status says since %v for %q", last.At, last.Reason, ra.Since, ra.Reason)
	}
	var sum time.Duration
	for _, s := range last.Steps {
		sum += time.Duration(s.Took)
	}
	if time.Duration(last.Took) < sum {
		t.Errorf("transition took %v, less than its steps' sum %v", last.Took, sum)
	}

	// The status file catches up with the steps once they finish.
	waitFor(t, 2*time.Second, "status.json with the promotion done", func() bool {
		b, err := os.ReadFile(filepath.Join(a.dir, StatusFile))
		var st status.Report
		if err != nil || json.Unmarshal(b, &st) != nil || len(st.Routers) == 0 {
			return false
		}
		ts := st.Routers[0].Transitions
		return len(ts) == 2 && ts[1].Done && len(ts[1].Steps) == 4
	})

	h := b.router("vr").Heard
	prio := uint8(200)
	wantHeard := &status.Heard{From: "198.18.0.1", TTL: 255,
		Advertised: status.Advertised{Priority: &prio, Interval: testInterval.String()}}
	if diff := cmp.Diff(wantHeard, h, cmpIgnoreAt); diff != "" {
		t.Errorf("b heard (-want +got):\n%s", diff)
	}
	if age := time.Since(h.At); age < 0 || age > time.Second {
		t.Errorf("b heard its last advert %v ago; a advertises every %v", age, testInterval)
	}
	if a.router("vr").Heard != nil {
		t.Errorf("the master heard %+v; nobody else advertises", a.router("vr").Heard)
	}
}

var cmpIgnoreAt = cmp.Transformer("noAt", func(h *status.Heard) *status.Heard {
	if h == nil {
		return nil
	}
	c := *h
	c.At = time.Time{}
	return &c
})

// TestRecord checks the transition ring: the last MaxTransitions are
// kept, updates to an evicted one are ignored, and steps and completion
// land on the right entry.
func TestRecord(t *testing.T) {
	finished := 0
	rc := newRecord(func() { finished++ })
	var seqs []uint64
	for i := range status.MaxTransitions + 5 {
		seqs = append(seqs, rc.begin(job{from: carp.Backup, to: carp.Master, reason: fmt.Sprint(i), notify: "MASTER"}))
	}
	rc.step(seqs[0], "evicted", time.Second, nil)
	rc.step(seqs[len(seqs)-1], "vip-add", time.Millisecond, errors.New("no such device"))
	rc.start(seqs[len(seqs)-1], 3*time.Microsecond)
	rc.finish(seqs[len(seqs)-1], 2*time.Millisecond)
	if finished != 1 {
		t.Errorf("changed called %d times for one finished transition", finished)
	}
	_, ts := rc.snapshot()
	var reasons []string
	for _, x := range ts {
		reasons = append(reasons, x.Reason)
	}
	var want []string
	for i := 5; i < status.MaxTransitions+5; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	wantLast := status.Transition{From: "BACKUP", To: "MASTER", Notify: "MASTER", Reason: "24",
		Queued: status.Duration(3 * time.Microsecond), Took: status.Duration(2 * time.Millisecond), Done: true,
		Steps: []status.Step{{Name: "vip-add", Took: status.Duration(time.Millisecond), Error: "no such device"}}}
	if diff := cmp.Diff(wantLast, ts[len(ts)-1]); diff != "" {
		t.Errorf("last (-want +got):\n%s", diff)
	}
	for _, x := range ts[:len(ts)-1] {
		if len(x.Steps) != 0 || x.Done {
			t.Errorf("transition %s got %+v", x.Reason, x)
		}
	}
	// The snapshot is a copy: changing it does not change the record.
	ts[len(ts)-1].Steps[0].Name = "changed"
	if _, again := rc.snapshot(); again[len(again)-1].Steps[0].Name != "vip-add" {
		t.Errorf("snapshot shares steps with the record")
	}
}

// TestRecordFault checks that the history names a fault FAULT, going in
// and coming out, although the machine holds a faulted router in INIT;
// a stop stays a move to INIT.
func TestRecordFault(t *testing.T) {
	rc := newRecord(func() {})
	rc.begin(job{from: carp.Master, to: carp.Init, notify: "FAULT", reason: "fault: eth0 down"})
	rc.begin(job{from: carp.Init, to: carp.Backup, notify: "BACKUP", reason: "fault cleared"})
	rc.begin(job{from: carp.Backup, to: carp.Init, notify: "STOP", reason: "shutdown"})
	_, ts := rc.snapshot()
	var got []string
	for _, x := range ts {
		got = append(got, x.From+">"+x.To+" "+x.Notify)
	}
	want := []string{"MASTER>FAULT FAULT", "FAULT>BACKUP BACKUP", "BACKUP>INIT STOP"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestTransitionLogs checks the log contract: one info line per
// transition with from, to, reason and total time, and one debug line per
// step, in the order status shows the steps.
func TestTransitionLogs(t *testing.T) {
	seg := &segment{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	waitFor(t, 2*time.Second, "the promotion done", func() bool {
		ts := a.router("vr").Transitions
		return len(ts) == 2 && ts[1].Done
	})
	ts := a.router("vr").Transitions

	type line struct{ Level, From, To, Reason string }
	var got, want []line
	for _, r := range a.logs.records("transition") {
		if r["took"] == nil || r["queued"] == nil {
			t.Errorf("transition line without took or queued: %v", r)
		}
		got = append(got, line{fmt.Sprint(r["level"]), fmt.Sprint(r["from"]), fmt.Sprint(r["to"]), fmt.Sprint(r["reason"])})
	}
	var gotSteps, wantSteps []string
	for _, r := range a.logs.records("transition step") {
		if r["level"] != "DEBUG" || r["took"] == nil {
			t.Errorf("step line %v: want level DEBUG with took", r)
		}
		gotSteps = append(gotSteps, fmt.Sprint(r["to"], " ", r["step"]))
	}
	for _, x := range ts {
		want = append(want, line{"INFO", x.From, x.To, x.Reason})
		for _, s := range x.Steps {
			wantSteps = append(wantSteps, x.To+" "+s.Name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transition lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSteps, gotSteps); diff != "" {
		t.Errorf("step lines (-want +got):\n%s", diff)
	}
}

// TestHearAllocs checks that recording a heard advert allocates nothing:
// a backup records every advert, status formats only the last one it
// shows (docs/daemon.md, "Cost of an advertisement").
func TestHearAllocs(t *testing.T) {
	rc := newRecord(nil)
	ad := carp.Advert{Proto: carp.ProtoVRRP3, ID: 1, Priority: 150, Interval: 100 * time.Millisecond,
		Src: netip.MustParseAddr("198.18.0.1"), TTL: 255}
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() { rc.hear(now, ad) })
	t.Logf("%.1f allocations per advert heard", allocs)
	if allocs != 0 {
		t.Errorf("%.1f allocations per advert heard, want 0", allocs)
	}
	h, _ := rc.snapshot()
	if h == nil || h.From != "198.18.0.1" || h.TTL != 255 || *h.Advertised.Priority != 150 || h.Advertised.Interval != "100ms" {
		t.Errorf("snapshot shows %+v", h)
	}
}

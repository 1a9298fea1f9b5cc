package daemon

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// TestControlSocket does status and demote round trips over the Unix
// socket and checks the status file.
func TestControlSocket(t *testing.T) {
	n := newNode(t, &segment{}, "198.18.0.1", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	n.waitState("vr", "MASTER", 3*time.Second)
	fi, err := os.Stat(control.SocketPath(n.dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v (%v), want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(n.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v (%v), want 0700", fi.Mode(), err)
	}

	resp, err := control.Call(t.Context(), n.dir, control.Request{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Status.Routers; len(got) != 1 || got[0].State != "MASTER" || got[0].Master != "198.18.0.1" ||
		got[0].Proto != "vrrp3" || got[0].ID != 7 || *got[0].Advertised.Priority != 100 {
		t.Errorf("status routers %+v", got)
	}

	demote := func(req control.Request) (int, error) {
		req.Op = "demote"
		resp, err := control.Call(t.Context(), n.dir, req)
		if err != nil {
			return 0, err
		}
		return *resp.Demote, nil
	}
	steps := []struct {
		req  control.Request
		want int
		prio uint8
	}{
		{control.Request{Router: "vr", N: 1}, 1, 99},
		{control.Request{Router: "vr", N: 20}, 21, 79},
		{control.Request{Router: "vr", N: -5}, 16, 84},
		{control.Request{Router: "vr", N: -100}, 0, 100}, // clamped at 0
		{control.Request{Router: "vr", N: 300}, 255, 1},  // clamped at 255; VRRP priority at 1
		{control.Request{Router: "vr", Reset: true}, 0, 100},
	}
	for _, s := range steps {
		got, err := demote(s.req)
		if err != nil || got != s.want {
			t.Errorf("demote %+v = %d, %v; want %d", s.req, got, err, s.want)
		}
		if p := *n.router("vr").Advertised.Priority; p != s.prio {
			t.Errorf("after demote %+v priority %d, want %d", s.req, p, s.prio)
		}
	}
	for _, req := range []control.Request{{Op: "demote", Router: "nope", N: 1}, {Op: "reboot"}} {
		if _, err := control.Call(t.Context(), n.dir, req); err == nil {
			t.Errorf("request %+v succeeded, want an error", req)
		}
	}

	waitFor(t, time.Second, "status file", func() bool {
		b, err := os.ReadFile(n.dir + "/" + StatusFile)
		var st status.Report
		return err == nil && json.Unmarshal(b, &st) == nil && len(st.Routers) == 1 && st.Routers[0].State == "MASTER"
	})
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(n.dir + "/" + StatusFile)
	var st status.Report
	if err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("status file after stop: %v", err)
	}
	if len(st.Routers) != 0 {
		t.Errorf("status file after stop lists %d routers, want none", len(st.Routers))
	}
	for _, f := range []string{control.PIDFile, control.SocketFile} {
		if _, err := os.Stat(n.dir + "/" + f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after stop (%v)", f, err)
		}
	}
}

// TestControlRefusesOtherUID: a control connection from a uid that is
// neither root nor carpd's is answered with an error, counted and logged,
// and its demote is not done.
func TestControlRefusesOtherUID(t *testing.T) {
	const other = 65534
	if os.Geteuid() == other {
		t.Skip("the test plays uid 65534, which is this process's")
	}
	n := newNode(t, &segment{}, "198.18.0.1", vrrpRouter("vr", 7, 100, "198.18.0.100/32"))
	n.d.ctl.PeerUID = func(net.Conn) (int, error) { return other, nil }
	n.start()
	n.waitState("vr", "MASTER", 3*time.Second)
	_, err := control.Call(t.Context(), n.dir, control.Request{Op: "demote", Router: "vr", N: 50})
	if err == nil || !strings.Contains(err.Error(), "permission denied: uid 65534 may not use carpd's control socket") {
		t.Fatalf("demote as uid %d: error %v, want permission denied", other, err)
	}
	if p := *n.router("vr").Advertised.Priority; p != 100 {
		t.Errorf("priority %d after a refused demote, want 100", p)
	}
	if got := n.d.ctl.Refused(); got != 1 {
		t.Errorf("refused count %d, want 1", got)
	}
	if !strings.Contains(n.logs.String(), `"msg":"refusing control connection"`) {
		t.Errorf("refusal not logged:\n%s", n.logs.String())
	}

	n.d.ctl.PeerUID = func(net.Conn) (int, error) { return os.Geteuid(), nil }
	if _, err := control.Call(t.Context(), n.dir, control.Request{Op: "demote", Router: "vr", N: 1}); err != nil {
		t.Errorf("demote as carpd's own uid: %v", err)
	}
}

// TestVIPPutBack removes the VIP behind the daemon's back: while MASTER
// it is put back and logged; our own removals are not fought.
func TestVIPPutBack(t *testing.T) {
	n := newNode(t, &segment{}, "198.18.0.1", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	n.waitState("vr", "MASTER", 3*time.Second)
	waitFor(t, time.Second, "VIP added", func() bool { return len(n.net.addrsOf("eth0")) == 1 })
	n.net.yank("eth0", "198.18.0.100/32")
	waitFor(t, time.Second, "VIP back", func() bool { return len(n.net.addrsOf("eth0")) == 1 })
	if recs := n.logs.records("VIP was removed behind our back while MASTER; put it back"); len(recs) != 1 ||
		recs[0]["level"] != "WARN" || recs[0]["vip"] != "198.18.0.100/32" {
		t.Errorf("put-back logs %v", recs)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if got := n.net.addrsOf("eth0"); len(got) != 0 {
		t.Errorf("addresses after stop %v: the put-back fought our own removal", got)
	}
}

// TestResign steps the master down once (SIGUSR2); without preemption
// the other node keeps the role.
func TestResign(t *testing.T) {
	seg := &segment{}
	ra, rb := vrrpRouter("vr", 7, 200, "198.18.0.100/32"), vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	ra.Machine.Preempt, rb.Machine.Preempt = false, false
	a := newNode(t, seg, "198.18.0.1", ra).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	b := newNode(t, seg, "198.18.0.2", rb).start()
	b.waitState("vr", "BACKUP", time.Second)
	// A priority 0 advert counts only from the master b follows.
	waitFor(t, time.Second, "b to see a as master", func() bool { return b.router("vr").Master == "198.18.0.1" })
	if err := a.d.Resign(""); err != nil {
		t.Fatal(err)
	}
	b.waitState("vr", "MASTER", time.Second)
	a.waitState("vr", "BACKUP", time.Second)
	if got := a.router("vr").Reason; got != "step down requested" {
		t.Errorf("reason %q", got)
	}
	time.Sleep(5 * testInterval)
	if a.router("vr").State != "BACKUP" || b.router("vr").State != "MASTER" {
		t.Errorf("roles changed back without preemption")
	}
}

// TestClaimFailureDemotes makes adding the VIP fail on the preferred node:
// it logs the step, demotes itself and the other node takes over.
func TestClaimFailureDemotes(t *testing.T) {
	seg := &segment{}
	fa := newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"})
	fa.failAdd = errors.New("file exists")
	a := newNodeOn(t, fa, vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	b := newNode(t, seg, "198.18.0.2", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	b.waitState("vr", "MASTER", 5*time.Second)
	a.waitState("vr", "BACKUP", time.Second)
	st := a.router("vr")
	if !st.Demotion.Claim || *st.Advertised.Priority != 1 {
		t.Errorf("a's demotion %+v priority %d, want the claim failure and priority 1", st.Demotion, *st.Advertised.Priority)
	}
	if recs := a.logs.records("transition step failed"); len(recs) == 0 || recs[0]["step"] != "vip-add" {
		t.Errorf("failed step logs %v, want vip-add", recs)
	}
	if got := a.router("vr").Reason; got != "claiming the VIPs failed" {
		t.Errorf("a's reason for leaving MASTER %q", got)
	}
}

// TestReload applies a new configuration to a running daemon.
func TestReload(t *testing.T) {
	vr := vrrpRouter("vr", 7, 200, "198.18.0.100/32")
	other := vrrpRouter("old", 8, 100, "198.18.0.110/32")
	tr := newTracer(t)
	other.Hooks.Notify = traceScript(t, tr, "notify")
	n := newNode(t, &segment{}, "198.18.0.1", vr, other).start()
	n.waitState("vr", "MASTER", 3*time.Second)
	n.waitState("old", "MASTER", time.Second)
	transitions := n.router("vr").Counters.Transitions

	// In place: priority and a second VIP for vr; old removed; new added.
	vr2 := vr
	vr2.Machine.Priority = 150
	vr2.VIPs = prefixes("198.18.0.100/32", "198.18.0.101/32")
	added := vrrpRouter("new", 9, 100, "198.18.0.120/32")
	if err := n.d.Reload([]config.Router{vr2, added}, nil); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	waitFor(t, time.Second, "second VIP", func() bool {
		return slices.Contains(n.net.addrsOf("eth0"), "198.18.0.101/32") &&
			!slices.Contains(n.net.addrsOf("eth0"), "198.18.0.110/32")
	})
	st := n.router("vr")
	if st.State != "MASTER" || st.Counters.Transitions != transitions || *st.Advertised.Priority != 150 {
		t.Errorf("vr after reload: %s, %d transitions (was %d), priority %d", st.State, st.Counters.Transitions,
			transitions, *st.Advertised.Priority)
	}
	if got := tr.lines(); len(got) < 3 || got[len(got)-1] != "notify STOP INSTANCE old STOP 100" {
		t.Errorf("removed router's notify calls %v, want STOP last", got)
	}
	n.waitState("new", "MASTER", 3*time.Second)
	var names []string
	for _, r := range n.d.Status().Routers {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"vr", "new"}, names); diff != "" {
		t.Errorf("routers after reload (-want +got):\n%s", diff)
	}

	// A new vrid is another router: restart, and say so.
	vr3 := vr2
	vr3.Machine.ID = 17
	if err := n.d.Reload([]config.Router{vr3, added}, nil); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if recs := n.logs.records("interface, protocol, id, source, group, peers or vmac changed; restarting the router"); len(recs) != 1 {
		t.Errorf("restart logs %v, want one", recs)
	}
	n.waitState("vr", "BACKUP", time.Second)
	if st := n.router("vr"); st.ID != 17 {
		t.Errorf("restarted router: id %d, want 17", st.ID)
	}

	// Invalid: refused as a whole, nothing changes.
	bad := added
	bad.VIPs = nil
	err := n.d.Reload([]config.Router{vr3, bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "no virtual address") {
		t.Errorf("Reload of an invalid set = %v", err)
	}
	if st := n.router("new"); st.State != "MASTER" || len(st.VIPs) != 1 {
		t.Errorf("the refused reload changed router new: %+v", st)
	}
}

// TestDemoteDuringShutdown queues a demote behind the router's shutdown:
// the router ends without running it, and the demote must say so instead
// of waiting for ever (a control request that arrives while carpd stops).
func TestDemoteDuringShutdown(t *testing.T) {
	t.Parallel()
	// VIPs left to scripts: adding one would post a link event to the
	// router at a moment of its own, and the queue counts below would be
	// off by it (the test failed so under load).
	spec := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	spec.VIPByScripts = true
	n := newNode(t, &segment{}, "198.18.0.1", spec).start()
	n.waitState("vr", "MASTER", 3*time.Second)
	r, err := n.d.router("vr")
	if err != nil {
		t.Fatal(err)
	}
	// Hold the router goroutine so that the shutdown and then the demote
	// queue up behind it, in that order.
	held, release := make(chan struct{}), make(chan struct{})
	if !r.post(func(time.Time) { close(held); <-release }) {
		t.Fatal("router stopped before the test began")
	}
	<-held
	stopped := make(chan error, 1)
	go func() { stopped <- n.stop() }()
	waitFor(t, 2*time.Second, "the shutdown queued", func() bool { return len(r.ctl) == 1 })
	demoted := make(chan error, 1)
	go func() {
		_, err := n.d.Demote("vr", 1, false)
		demoted <- err
	}()
	waitFor(t, 2*time.Second, "the demote queued", func() bool { return len(r.ctl) == 2 })
	close(release)
	select {
	case err := <-demoted:
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("demote queued behind the shutdown returned %v, want the router stopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("demote queued behind the shutdown still waiting 5s after the router ended")
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

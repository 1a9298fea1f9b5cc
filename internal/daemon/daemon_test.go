package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/google/go-cmp/cmp"
)

// TestElectAndFailOver runs two daemons on one segment: the preferred one
// becomes MASTER and holds the VIP, loses it when its link goes down
// (FAULT) and takes it back when the link returns (VRRP preempts).
func TestElectAndFailOver(t *testing.T) {
	seg := &segment{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	b := newNode(t, seg, "198.18.0.2", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	b.waitState("vr", "BACKUP", time.Second)
	waitFor(t, time.Second, "VIP on a", func() bool { return slices.Equal(a.net.addrsOf("eth0"), []string{"198.18.0.100/32"}) })
	if got := b.net.addrsOf("eth0"); len(got) != 0 {
		t.Errorf("backup holds %v, want nothing", got)
	}
	// b was BACKUP from its start, before a's first advert: it names a as
	// master once that advert has been read, which may be a moment after a
	// entered MASTER.
	waitFor(t, time.Second, "backup to see a as master", func() bool { return b.router("vr").Master == "198.18.0.1" })

	start := time.Now()
	a.net.setLink("eth0", false)
	a.waitState("vr", "FAULT", time.Second)
	b.waitState("vr", "MASTER", 3*time.Second)
	t.Logf("takeover after link down: %v", time.Since(start))
	waitFor(t, time.Second, "VIP moved to b", func() bool {
		return len(a.net.addrsOf("eth0")) == 0 && slices.Equal(b.net.addrsOf("eth0"), []string{"198.18.0.100/32"})
	})
	if st := a.router("vr"); !slices.Equal(st.Faults, []string{"link down"}) || !strings.Contains(st.Reason, "link down") {
		t.Errorf("a after link down: faults %v reason %q", st.Faults, st.Reason)
	}

	a.net.setLink("eth0", true)
	a.waitState("vr", "MASTER", 3*time.Second)
	b.waitState("vr", "BACKUP", time.Second)
	if rs := a.router("vr"); rs.Counters.Received == 0 || rs.Counters.Sent == 0 {
		t.Errorf("a counters %+v, want adverts sent and received", rs.Counters)
	}
}

// TestShutdownBowsOut checks the SIGTERM path: the CARP master sends the
// 255/255 bow-out, so the backup takes over at once instead of after its
// 3 s master-down interval, and the master removes its VIP, runs its down
// hook and notifies STOP before Run returns.
func TestShutdownBowsOut(t *testing.T) {
	t.Parallel()
	seg := &segment{}
	tr := newTracer(t)
	ra := carpRouter("c5", 5, 0, "s3cret", "198.18.0.100/32")
	ra.Hooks = config.Hooks{Up: traceScript(t, tr, "up"), Down: traceScript(t, tr, "down"),
		Notify: traceScript(t, tr, "notify"), XParam: "extra"}
	ra.Neutral = true
	fa := newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"})
	fa.trace = tr
	a := newNodeOn(t, fa, ra).start()
	b := newNode(t, seg, "198.18.0.2", carpRouter("c5", 5, 100, "s3cret", "198.18.0.100/32")).start()
	a.waitState("c5", "MASTER", 6*time.Second)
	b.waitState("c5", "BACKUP", time.Second)

	start := time.Now()
	if err := a.stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	// The master holds its VIP until the backup's gratuitous ARP, so by
	// the time Run returns the backup has taken over.
	if got := b.router("c5").State; got != "MASTER" {
		t.Errorf("backup in %s when the stopped master let go of its VIP, want MASTER", got)
	}
	if recs := a.logs.records("new master's claim"); len(recs) != 1 || recs[0]["seen"] != true {
		t.Errorf("await-claim records %v, want one that saw the new master's gratuitous ARP", recs)
	}
	b.waitState("c5", "MASTER", 2*time.Second)
	took := time.Since(start)
	t.Logf("takeover after shutdown: %v", took)
	if took >= 3*time.Second {
		t.Errorf("takeover took %v: the bow-out did not work", took)
	}
	if got := b.router("c5").Reason; !strings.Contains(got, "bow-out received from 198.18.0.1") {
		t.Errorf("backup's takeover reason %q, want a bow-out", got)
	}
	if got := a.net.addrsOf("eth0"); len(got) != 0 {
		t.Errorf("stopped master still holds %v", got)
	}
	want := []string{
		"remove 198.18.0.100/32",               // INIT → BACKUP: vip-remove is idempotent
		"notify BACKUP INSTANCE c5 BACKUP 255", // Neutral: no down script at start
		"add 198.18.0.100/32",
		"announce [198.18.0.100]",
		"up MASTER eth0 198.18.0.100 extra",
		"notify MASTER INSTANCE c5 MASTER 255",
		"remove 198.18.0.100/32",
		"down STOP eth0 198.18.0.100 extra",
		"notify STOP INSTANCE c5 STOP 255",
	}
	if diff := cmp.Diff(want, tr.lines()); diff != "" {
		t.Errorf("transition trace (-want +got):\n%s", diff)
	}
}

// TestShutdownHoldAlone checks that a master with nobody to take over
// keeps its VIP for one advertisement interval (+100 ms) after its bow-out, then
// lets go: the hold is bounded.
func TestShutdownHoldAlone(t *testing.T) {
	t.Parallel()
	a := newNode(t, &segment{}, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 6*time.Second)
	start := time.Now()
	if err := a.stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	took := time.Since(start)
	hold := testInterval + 100*time.Millisecond
	t.Logf("shutdown with nobody to take over took %v (hold %v)", took, hold)
	if took < hold || took > hold+2*time.Second {
		t.Errorf("shutdown took %v, want the %v hold (plus at most 2 s)", took, hold)
	}
	if recs := a.logs.records("new master's claim"); len(recs) != 1 || recs[0]["seen"] != false {
		t.Errorf("await-claim records %v, want one that waited in vain", recs)
	}
	if got := a.net.addrsOf("eth0"); len(got) != 0 {
		t.Errorf("stopped master still holds %v", got)
	}
}

// TestDemotionAwaitsClaim checks that a MASTER displaced by a preempting
// node keeps its VIP until that node's gratuitous ARP or unsolicited NA
// (await-claim), and that the wait ends on it rather than on the timer:
// for an IPv6 VIP as for an IPv4 one.
func TestDemotionAwaitsClaim(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, a, b, vip string }{
		{"IPv4", "198.18.0.1", "198.18.0.2", "198.18.0.100/32"},
		{"IPv6", "fe80::1", "fe80::2", "2001:2::100/128"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seg := &segment{}
			a := newNode(t, seg, tt.a, vrrpRouter("vr", 7, 100, tt.vip)).start()
			a.waitState("vr", "MASTER", 6*time.Second)
			b := newNode(t, seg, tt.b, vrrpRouter("vr", 7, 200, tt.vip)).start()
			b.waitState("vr", "MASTER", 6*time.Second)
			a.waitState("vr", "BACKUP", time.Second)
			waitFor(t, time.Second, "a letting go of the VIP", func() bool { return len(a.net.addrsOf("eth0")) == 0 })
			recs := a.logs.records("new master's claim")
			if len(recs) != 1 || recs[0]["seen"] != true {
				t.Fatalf("await-claim records %v, want one that saw the claim", recs)
			}
			waited, _ := recs[0]["waited"].(float64)
			t.Logf("a waited %v for b's announcement", time.Duration(waited))
			if hold := testInterval + 100*time.Millisecond; time.Duration(waited) >= hold {
				t.Errorf("a waited %v, the whole hold %v: the claim did not end the wait", time.Duration(waited), hold)
			}
		})
	}
}

// TestReconcile starts a daemon on an interface holding a leftover VIP
// and a leftover address with our label: both go before the router
// enters BACKUP; a foreign address stays.
func TestReconcile(t *testing.T) {
	seg := &segment{}
	tr := newTracer(t)
	r := vrrpRouter("vr", 9, 100, "198.18.0.100/32")
	r.Hooks.Notify = traceScript(t, tr, "notify")
	fn := newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"})
	fn.trace = tr
	fn.put("eth0", "198.18.0.100/32", "")
	fn.put("eth0", "198.18.0.101/32", fn.Label("eth0", r.Machine.Proto, 9))
	fn.put("eth0", "198.18.0.200/32", "eth0:other")
	n := newNodeOn(t, fn, r).start()
	n.waitState("vr", "BACKUP", time.Second)
	waitFor(t, time.Second, "notify BACKUP", func() bool { return len(tr.lines()) >= 4 })
	// The leftovers go first; then the INIT → BACKUP demotion steps run
	// (vip-remove is idempotent) and notify.
	want := []string{"remove 198.18.0.100/32", "remove 198.18.0.101/32", "remove 198.18.0.100/32",
		"notify BACKUP INSTANCE vr BACKUP 100"}
	if diff := cmp.Diff(want, tr.lines()); diff != "" {
		t.Errorf("start-up order (-want +got):\n%s", diff)
	}
	if got := fn.addrsOf("eth0"); !slices.Equal(got, []string{"198.18.0.200/32"}) {
		t.Errorf("addresses after start %v, want only the foreign one", got)
	}
}

// TestPIDLock refuses a second daemon on the same state directory.
func TestPIDLock(t *testing.T) {
	seg := &segment{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	a.waitState("vr", "BACKUP", time.Second)
	b := newNode(t, seg, "198.18.0.2", vrrpRouter("vr", 7, 100, "198.18.0.100/32"))
	b.dir = a.dir
	b.d.opts.StateDir = a.dir
	err := b.d.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "another carpd") {
		t.Fatalf("second Run = %v, want another carpd is running", err)
	}
	if a.router("vr").State != "BACKUP" {
		t.Errorf("the refused start disturbed the running daemon")
	}
}

// TestUnicastPeers elects over unicast: each node sends to its peer only.
func TestUnicastPeers(t *testing.T) {
	seg := &segment{}
	ra, rb := vrrpRouter("vr", 7, 200, "198.18.0.100/32"), vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	ra.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.2")}
	rb.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.1")}
	a := newNode(t, seg, "198.18.0.1", ra).start()
	b := newNode(t, seg, "198.18.0.2", rb).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	b.waitState("vr", "BACKUP", time.Second)
	waitFor(t, time.Second, "adverts received", func() bool { return b.router("vr").Counters.Received > 2 })
	if st := a.d.Status(); len(st.Sockets) != 1 || !st.Sockets[0].Unicast || st.Sockets[0].Group != "" {
		t.Errorf("sockets %+v, want one unicast socket", st.Sockets)
	}
}

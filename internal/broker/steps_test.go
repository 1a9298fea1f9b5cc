//go:build linux

package broker

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/nat"
	"github.com/google/go-cmp/cmp"
)

var (
	vr1 = []netip.Prefix{netip.MustParsePrefix("198.18.0.100/32")}
	vr2 = []netip.Prefix{netip.MustParsePrefix("198.18.0.101/32")}
)

// promote and demote run the broker's steps as the daemon's executor does
// on a promotion and on leaving MASTER (internal/daemon steps.go).
func promote(s *Service, router string, vips []netip.Prefix) []error {
	return []error{s.ApplyDNAT(router, vips), s.FlushConntrack(vips), s.Promoted(time.Now())}
}

func demote(s *Service, router string, vips []netip.Prefix) []error {
	return []error{s.ResetClients(vips), s.RemoveDNAT(router), s.FlushConntrack(vips), s.Demoted(time.Now())}
}

// TestDNATFollowsMastership promotes two routers and demotes them: each
// promotion adds its VIP's rule to the table (to the broker's static
// address, the host's source address here), each demotion removes it, and
// the last one removes the table. Status shows the rules applied.
func TestDNATFollowsMastership(t *testing.T) {
	s, f := newTestService(t, testBroker())
	for _, err := range append(promote(s, "vr1", vr1), promote(s, "vr2", vr2)...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"198.18.0.100:1883->198.18.0.1:1883", "198.18.0.101:1883->198.18.0.1:1883"}
	if diff := cmp.Diff(want, s.Status().NAT.Rules); diff != "" {
		t.Errorf("rules after promotions (-want +got):\n%s", diff)
	}
	for _, err := range append(demote(s, "vr1", vr1), demote(s, "vr2", vr2)...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantTrace := []string{
		"remove table", // Start: a table left by a killed carpd
		"apply [198.18.0.100:1883->198.18.0.1:1883]",
		"flush 198.18.0.100 [1883]",
		// vr1's promotion finds the broker fresh; vr2's finds it serving.
		"apply [198.18.0.100:1883->198.18.0.1:1883 198.18.0.101:1883->198.18.0.1:1883]",
		"flush 198.18.0.101 [1883]",
		"restart",
		"reset 198.18.0.100 [1883] 198.18.0.1",
		"apply [198.18.0.101:1883->198.18.0.1:1883]",
		"flush 198.18.0.100 [1883]",
		"reset 198.18.0.101 [1883] 198.18.0.1",
		"remove table",
		"flush 198.18.0.101 [1883]",
	}
	if diff := cmp.Diff(wantTrace, f.rec.trace()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if got := s.Status().NAT.Rules; len(got) != 0 {
		t.Errorf("rules after demotions: %v, want none", got)
	}
}

// TestFailingStepDoesNotStopOthers fails the table's Apply: dnat-apply
// returns the error (the executor logs it with the step's name), the later
// steps still do their work, status shows the error, and the next apply
// retries even though the rules did not change.
func TestFailingStepDoesNotStopOthers(t *testing.T) {
	s, f := newTestService(t, testBroker())
	f.table.failApply = true
	errs := promote(s, "vr1", vr1)
	if errs[0] == nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("promotion errors %v, want dnat-apply's only", errs)
	}
	if got := s.Status().NAT.LastError; got == "" {
		t.Error("status shows no NAT error after a failed apply")
	}
	if err := s.ApplyDNAT("vr1", vr1); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// No restart: the broker has not served as master since it started.
	want := []string{"remove table", "apply failed", "flush 198.18.0.100 [1883]",
		"apply [198.18.0.100:1883->198.18.0.1:1883]"}
	if diff := cmp.Diff(want, f.rec.trace()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if got := s.Status().NAT.LastError; got != "" {
		t.Errorf("status NAT error %q after a good apply, want none", got)
	}
}

// TestNATNone runs the steps with nat: none: nothing touches the table,
// conntrack or the clients' sockets; the broker restart still happens.
func TestNATNone(t *testing.T) {
	cfg := testBroker()
	cfg.NAT = "none"
	s, f := newTestService(t, cfg)
	for _, err := range append(promote(s, "vr1", vr1), demote(s, "vr1", vr1)...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"restart"}, f.rec.trace()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestPromotionRestart: with on_promote: restart, a promotion restarts the
// broker only if it served as master since it started: not a broker
// started moments ago (a node returning after a reboot, or a backup whose
// broker started with carpd), nor one restarted on demotion; once for
// routers promoted together; always without DNAT, where the broker may
// need the restart to listen on the VIP.
func TestPromotionRestart(t *testing.T) {
	restarts := func(f *fakes) int {
		n := 0
		for _, c := range f.rec.trace() {
			if c == "restart" {
				n++
			}
		}
		return n
	}
	check := func(t *testing.T, f *fakes, what string, want int) {
		t.Helper()
		if got := restarts(f); got != want {
			t.Fatalf("%s: %d restarts in all, want %d; calls %v", what, got, want, f.rec.trace())
		}
	}
	// together promotes two routers in one batch: both jobs queued before
	// either step runs.
	together := func(t *testing.T, s *Service) {
		t.Helper()
		q := time.Now()
		for _, r := range []string{"vr1", "vr2"} {
			if err := s.Promoted(q); err != nil {
				t.Fatal(r, err)
			}
		}
	}
	t.Run("dnat", func(t *testing.T) {
		s, f := newTestService(t, testBroker())
		together(t, s)
		check(t, f, "first promotions of a fresh broker", 0)
		if got := f.rec.records("broker not restarted: started since this node last served as master"); len(got) != 1 {
			t.Errorf("logged the skip %d times, want once", len(got))
		}
		demote(s, "vr1", vr1)
		demote(s, "vr2", vr2)
		together(t, s)
		check(t, f, "promotions of a broker that served", 1)
		demote(s, "vr2", vr2)
		check(t, f, "demotion", 1)
		promote(s, "vr2", vr2)
		check(t, f, "promotion while another router serves", 2)
	})
	t.Run("dnat, on_demote restart", func(t *testing.T) {
		cfg := testBroker()
		cfg.OnDemote = "restart"
		s, f := newTestService(t, cfg)
		promote(s, "vr1", vr1)
		demote(s, "vr1", vr1)
		check(t, f, "demotion", 1)
		promote(s, "vr1", vr1)
		check(t, f, "promotion after the demotion's restart", 1)
	})
	t.Run("nat none", func(t *testing.T) {
		cfg := testBroker()
		cfg.NAT = "none"
		s, f := newTestService(t, cfg)
		promote(s, "vr1", vr1)
		check(t, f, "promotion without DNAT", 1)
	})
}

// TestDNATRestored: when another program deletes carpd's table (a
// firewall reload's `nft flush ruleset`) or changes it, verify puts the
// rules back and says so; when the kernel holds what was applied it does
// nothing; after a failed apply it retries without a change of rules.
func TestDNATRestored(t *testing.T) {
	rec := newRecorder()
	table := &fakeTable{rec: rec}
	m := newNATMgr(netip.MustParseAddrPort("198.18.0.1:1883"), []uint16{1883}, slog.New(rec),
		deps{table: table})
	if m.verify() {
		t.Errorf("verify re-applied with nothing applied")
	}
	if err := m.set("vr1", vr1); err != nil {
		t.Fatal(err)
	}
	if m.verify() {
		t.Errorf("verify re-applied an intact table")
	}
	table.rules = nil // nft delete table ip carpd
	if !m.verify() {
		t.Errorf("verify left a deleted table deleted")
	}
	table.rules = append(table.rules, nat.Rule{VIP: netip.MustParseAddr("198.18.0.9"), Port: 1883,
		To: netip.MustParseAddrPort("198.18.0.2:1883")})
	if !m.verify() {
		t.Errorf("verify left a changed table changed")
	}
	table.failApply = true
	if err := m.set("vr2", vr2); err == nil {
		t.Fatal("set: no error from a failing apply")
	}
	if !m.verify() {
		t.Errorf("verify did not retry the failed apply")
	}
	want := []string{
		"apply [198.18.0.100:1883->198.18.0.1:1883]",
		"apply [198.18.0.100:1883->198.18.0.1:1883]",
		"apply [198.18.0.100:1883->198.18.0.1:1883]",
		"apply failed",
		"apply [198.18.0.100:1883->198.18.0.1:1883 198.18.0.101:1883->198.18.0.1:1883]",
	}
	if diff := cmp.Diff(want, rec.trace()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if n := len(rec.records("DNAT table changed behind carpd's back; restored")); n != 3 {
		t.Errorf("%d restore log lines, want 3", n)
	}
}

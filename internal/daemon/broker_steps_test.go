package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// fakeBroker records the broker steps in the executor's trace.
type fakeBroker struct {
	tr          *tracer
	garpFirst   bool
	failRestart bool
	failDNAT    bool
}

func (f *fakeBroker) ApplyDNAT(router string, vips []netip.Prefix) error {
	f.tr.add(fmt.Sprintf("dnat %s %v", router, vips))
	if f.failDNAT {
		return errors.New("applying the DNAT table: EBUSY")
	}
	return nil
}

func (f *fakeBroker) RemoveDNAT(router string) error {
	f.tr.add("undnat " + router)
	return nil
}

func (f *fakeBroker) FlushConntrack(vips []netip.Prefix) error {
	f.tr.add(fmt.Sprintf("flush %v", vips))
	return nil
}

func (f *fakeBroker) ResetClients(vips []netip.Prefix) error {
	f.tr.add(fmt.Sprintf("reset %v", vips))
	return nil
}

func (f *fakeBroker) Promoted(time.Time) error {
	f.tr.add("broker promoted")
	if f.failRestart {
		return errors.New("not ready within 1s")
	}
	return nil
}

func (f *fakeBroker) Demoted(time.Time) error {
	f.tr.add("broker demoted")
	return nil
}

func (f *fakeBroker) GARPBeforeReady() bool { return f.garpFirst }

// TestExecutorBrokerSteps checks the transition order of docs/daemon.md with a
// supervised broker, the GARP option, and that a failing broker step
// neither stops the others nor goes unlogged.
func TestExecutorBrokerSteps(t *testing.T) {
	const v1 = "198.18.0.100/32"
	vips := "[" + v1 + "]"
	promote := job{kind: jobPromote, from: carp.Backup, to: carp.Master, notify: "MASTER", prio: 100}
	demote := job{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", prio: 100, downHooks: true}
	first := job{kind: jobDemote, from: carp.Init, to: carp.Backup, notify: "BACKUP", prio: 100}
	tests := []struct {
		name      string
		garpFirst bool
		fail      bool
		failDNAT  bool
		jobs      []job
		want      []string
		failed    []string
	}{
		{name: "promotion, GARP after readiness", jobs: []job{promote},
			want: []string{"add " + v1, "dnat vr " + vips, "flush " + vips, "broker promoted",
				"announce [198.18.0.100]", "up MASTER eth0 198.18.0.100", "notify MASTER INSTANCE vr MASTER 100"}},
		{name: "promotion, GARP before readiness", garpFirst: true, jobs: []job{promote},
			want: []string{"add " + v1, "dnat vr " + vips, "flush " + vips, "announce [198.18.0.100]",
				"broker promoted", "up MASTER eth0 198.18.0.100", "notify MASTER INSTANCE vr MASTER 100"}},
		{name: "broker not ready: GARP and hooks still run", fail: true, jobs: []job{promote},
			failed: []string{"broker-ready"},
			want: []string{"add " + v1, "dnat vr " + vips, "flush " + vips, "broker promoted",
				"announce [198.18.0.100]", "up MASTER eth0 198.18.0.100", "notify MASTER INSTANCE vr MASTER 100"}},
		{name: "DNAT fails: the other steps still run", failDNAT: true, jobs: []job{promote},
			failed: []string{"dnat-apply"},
			want: []string{"add " + v1, "dnat vr " + vips, "flush " + vips, "broker promoted",
				"announce [198.18.0.100]", "up MASTER eth0 198.18.0.100", "notify MASTER INSTANCE vr MASTER 100"}},
		{name: "demotion from MASTER", jobs: []job{demote},
			want: []string{"reset " + vips, "undnat vr", "remove " + v1, "flush " + vips, "broker demoted",
				"down BACKUP eth0 198.18.0.100", "notify BACKUP INSTANCE vr BACKUP 100"}},
		{name: "first BACKUP: no flush, no broker policy", jobs: []job{first},
			want: []string{"undnat vr", "remove " + v1, "notify BACKUP INSTANCE vr BACKUP 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracer(t)
			fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
			fn.trace = tr
			spec := vrrpRouter("vr", 7, 100, v1)
			spec.Hooks = config.Hooks{Up: traceScript(t, tr, "up"), Down: traceScript(t, tr, "down"),
				Notify: traceScript(t, tr, "notify")}
			e, p := newTestExecutor(t, &spec, fn)
			e.bsvc = &fakeBroker{tr: tr, garpFirst: tt.garpFirst, failRestart: tt.fail, failDNAT: tt.failDNAT}
			runSteps(t, e, p, tr, tt.jobs, tt.want, tt.failed)
		})
	}
}

package daemon

import (
	"net/netip"
	"time"

	"github.com/carpd/carpd/carp"
)

// brokerSteps are the transition steps the supervised broker adds
// (broker_linux.go). Each is idempotent; an error is logged with the
// step's name and the next steps still run.
type brokerSteps interface {
	// natApply installs the DNAT rules of router's VIPs, together with
	// those of every other MASTER router.
	natApply(router string, vips []netip.Prefix) error
	// natRemove removes router's DNAT rules and keeps the others.
	natRemove(router string) error
	// flushConntrack deletes the flows to the VIPs' DNATed ports.
	flushConntrack(vips []netip.Prefix) error
	// resetClients resets the broker's connections that came in through
	// the VIPs' DNAT, so that idle clients reconnect at once.
	resetClients(vips []netip.Prefix) error
	// promoted restarts the broker (on_promote: restart) unless that
	// already happened since queued, and waits for its readiness,
	// bounded.
	promoted(queued time.Time) error
	// demoted restarts the broker with on_demote: restart.
	demoted(queued time.Time) error
	// garpBeforeReady says whether the gratuitous ARP / NA burst goes
	// before the broker restart instead of after its readiness.
	garpBeforeReady() bool
}

// brokerTracker is the name of the demotion input of the broker's health
// in a router's tracking map and logs.
const brokerTracker = "broker"

// brokerHealth applies the broker's health to every router: an unhealthy
// broker demotes by weight, and a MASTER steps down once so that a
// healthy peer takes over even without preemption (CARP backups do not
// preempt by default), as a failed claim does.
func (d *Daemon) brokerHealth(failed bool, weight int, why string) {
	for _, r := range d.all() {
		r.brokerHealth(failed, weight, why)
	}
	d.statusChanged()
}

func (r *router) brokerHealth(failed bool, weight int, why string) {
	r.post(func(now time.Time) {
		if !r.trackSet(now, brokerTracker, weight, failed) {
			return
		}
		if !failed {
			r.log.Info("broker healthy again; lifting its demotion")
			r.applyDemotion(now)
			return
		}
		r.log.Error("broker unhealthy; demoting", "reason", why, "weight", weight)
		r.applyDemotion(now)
		if r.m.State() == carp.Master {
			r.doFor(now, r.m.Resign(now), cause{reason: "broker unhealthy: " + why})
		}
	})
}

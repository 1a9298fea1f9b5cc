package daemon

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/carpd/carpd/carp"
)

// BrokerSteps are the transition steps a supervised broker adds to every
// router's executor. Each is idempotent; an error is logged with the
// step's name and the next steps still run.
type BrokerSteps interface {
	// ApplyDNAT installs the DNAT rules of router's VIPs, together with
	// those of every other MASTER router (step dnat-apply).
	ApplyDNAT(router string, vips []netip.Prefix) error
	// RemoveDNAT removes router's DNAT rules and keeps the others (step
	// dnat-remove).
	RemoveDNAT(router string) error
	// FlushConntrack deletes the flows to the VIPs' DNATed ports (step
	// conntrack-flush).
	FlushConntrack(vips []netip.Prefix) error
	// ResetClients resets the broker's connections that came in through
	// the VIPs' DNAT, so that idle clients reconnect at once (step
	// client-reset).
	ResetClients(vips []netip.Prefix) error
	// Promoted restarts the broker (on_promote: restart) unless that
	// already happened since queued, and waits for its readiness,
	// bounded (step broker-ready).
	Promoted(queued time.Time) error
	// Demoted restarts the broker with on_demote: restart (step
	// broker-demote).
	Demoted(queued time.Time) error
	// GARPBeforeReady says whether the gratuitous ARP / NA burst goes
	// before the broker restart instead of after its readiness.
	GARPBeforeReady() bool
}

// Broker is a supervised MQTT broker: its process, DNAT, health check,
// bridge probe and Home Assistant publisher, all outside this package
// (internal/broker, wired in by cmd/carpd). The daemon starts it before
// the routers and stops it after them, runs its steps in every router's
// transitions, tells it the routers' states and shows its status.
type Broker interface {
	BrokerSteps
	statePublisher
	// Start starts the broker and its checks; Stop ends them, stopping
	// the broker last. Neither blocks on the routers.
	Start()
	Stop()
	// Interrupt ends the steps' restarts and readiness waits, now and
	// later: shutdown has begun, and the routers must leave at once.
	Interrupt()
	// Health reports whether the broker currently demotes the routers,
	// and by how much.
	Health() (unhealthy bool, weight int)
	// Status is the broker's section of Status.
	Status() *BrokerStatus
}

// BrokerHost is how a Broker reaches the daemon. Its methods do not block.
type BrokerHost interface {
	// Logger is the daemon's logger.
	Logger() *slog.Logger
	// SourceAddr is the first router's source address: the broker's
	// address when the configuration gives only a port.
	SourceAddr() netip.Addr
	// StatusChanged asks for the status file to be rewritten.
	StatusChanged()
	// BrokerHealth demotes every router by weight while failed (why
	// says why), and lifts the demotion when it is not.
	BrokerHealth(failed bool, weight int, why string)
}

// brokerHost is the daemon as a Broker sees it.
type brokerHost struct{ d *Daemon }

func (h brokerHost) Logger() *slog.Logger   { return h.d.log }
func (h brokerHost) SourceAddr() netip.Addr { return h.d.specs[0].Machine.Addr }
func (h brokerHost) StatusChanged()         { h.d.statusChanged() }

func (h brokerHost) BrokerHealth(failed bool, weight int, why string) {
	h.d.brokerHealth(failed, weight, why)
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

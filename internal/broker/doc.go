// Package broker is the supervised MQTT broker of carpd's daemon: it runs
// the Mosquitto child (package supervisor) with its MQTT readiness and
// health checks and the bridge probe (package mosquitto), keeps carpd's
// DNAT table (package nat) equal to the rules of the MASTER routers,
// flushes conntrack and resets clients on failover, and publishes the
// routers' states to Home Assistant (internal/hass).
//
// Service implements the daemon's Broker interface (internal/daemon): the
// steps the routers' executors run on promotion and demotion (dnat-apply,
// conntrack-flush, broker-ready, client-reset, dnat-remove, broker-demote),
// and reaches the daemon only through a Host (status changed, the broker's
// health for the routers, the logger). cmd/carpd wires the two together.
//
// The package must not run routers, touch VIPs or decide about mastership:
// it reports health and the daemon decides. It logs only through the
// Host's logger, and every goroutine it starts ends in Stop. It is
// Linux-only (supervisor.Child and nat are).
package broker

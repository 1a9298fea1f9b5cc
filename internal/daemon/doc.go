// Package daemon wires carp.Machine to the network: it runs every virtual
// router of a configuration, executes the machine's actions, runs the
// transition steps and hooks, answers the control requests (their wire,
// the socket and the pid file are internal/control's) and writes the
// status file.
//
// Goroutines and ownership:
//
//   - One router goroutine per virtual router owns its carp.Machine,
//     under the router's mutex. It handles events (decoded adverts, the
//     expiries of the machine's Deadline, link and tracking changes,
//     demotion, resign, reconfigure, shutdown) one at a time, sends
//     advertisements itself, and hands every state change to its executor.
//     Nothing it does can block for long: a hook or a netlink call never
//     delays an advertisement. An advert or an expiry that finds the
//     router idle with nothing queued is handled in the same way, in order,
//     on the socket reader's or the timer's goroutine instead (tryInline):
//     a hand-over per advert cost a thread wakeup.
//   - One executor goroutine per virtual router runs the transition steps
//     (VIPs, gratuitous ARP, hooks, notify) in order from an unbounded
//     queue, one at a time, each step timed and logged.
//   - One reader goroutine per shared socket (interface, family, source,
//     group, unicast) reads protocol 112, demultiplexes by vhid/vrid,
//     decodes and verifies, counts what it drops, and passes the adverts to
//     the routers, queued to a busy one through a bounded channel; a full
//     channel drops (and counts) instead of blocking.
//   - Trackers (track_interface, track_script), the link watch, the control
//     socket and the status writer each have their own goroutine.
//
// Everything Linux-specific is behind the Net interface (net_linux.go
// adapts internal/link), so the logic is tested with an in-memory segment
// and needs no root. A supervised MQTT broker is behind the Broker
// interface (its transition steps, its health and status, the routers'
// states for Home Assistant), reaching back through BrokerHost; the
// daemon imports neither the broker's process supervision, nor nftables,
// nor MQTT: cmd/carpd wires internal/broker in (Options.NewBroker). The
// daemon does not parse configuration (it runs internal/config's routers)
// and does not handle signals (cmd/carpd does, calling Reload, Resign and
// LogStatus). docs/design.md has the package map and the data paths.
package daemon

// Package supervisor keeps a broker process running and checks that it
// works: Child supervises any command that serves a TCP port (own process
// group, restarts with back-off, a pid file against strays left by a killed
// carpd), and the Mosquitto parts on top check readiness and health with a
// real MQTT round trip, read enough of mosquitto.conf to validate the setup,
// and probe bridge replication end to end.
//
// The package is a library: it has no package-level state, logs only through
// the *slog.Logger it is given, and every goroutine it starts ends when the
// context passed to Run is done. It must not touch addresses, routes or
// firewall rules (packages link and nat own those) and must not decide about
// mastership: it reports events and the daemon decides.
//
// The process parts (Child) are Linux-only; the MQTT and configuration parts
// build everywhere.
package supervisor

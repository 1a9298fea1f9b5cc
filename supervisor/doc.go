// Package supervisor keeps one child process running: Child starts a command
// in its own process group with a death signal, waits for its readiness
// check, restarts it after a crash with jittered exponential back-off, tells
// a crash loop, stops it (SIGTERM, then SIGKILL to the group), logs its
// output line by line and keeps a pid file so that a child left behind by a
// killed carpd is stopped instead of started twice.
//
// The package is a library: it has no package-level state, logs only through
// the *slog.Logger it is given, returns errors and ends every goroutine it
// starts when the context passed to Run is done. It knows nothing of MQTT or
// Mosquitto (package mosquitto supplies the broker's readiness check as a
// ReadyFunc), must not touch addresses, routes or firewall rules (packages
// link and nat own those) and must not decide about mastership: it reports
// events and the daemon decides.
//
// Child is Linux-only; Config, Status and Event build everywhere.
package supervisor

// Package mqconf is carpd's knowledge of Mosquitto's configuration: it
// reads enough of mosquitto.conf (listeners, persistence, bridges,
// includes) to validate a setup and map probe topics across a bridge,
// checks MQTT topic names and filters, names bridge directions, and holds
// the defaults of package mosquitto's health check and bridge probe, which
// carpd's configuration shares.
//
// It is pure: no MQTT client, no network, no processes, so that
// internal/config can validate a broker section without linking Paho or
// the supervisor into the daemon. The client side (readiness, health
// check, probe, TLS) is package mosquitto, which builds on this one. It
// builds everywhere.
package mqconf

// Package mosquitto is carpd's MQTT client side of Mosquitto: it connects
// to a broker by its static address (plain or TLS) with short-lived Paho
// clients, and provides the broker's readiness check
// (MQTTReady: TCP connect, then CONNECT/CONNACK), its health check (Health:
// a QoS 1 round trip) and the bridge probe (Probe: a nonce published on one
// broker must arrive on the other, each direction, with the bridges'
// $SYS/broker/connection/+/state as information).
//
// The package is a library: it has no package-level state, logs only through
// the *slog.Logger it is given, returns errors and ends every goroutine it
// starts when the context passed to Run is done. It does not run processes
// (package supervisor does), must not touch addresses or firewall rules, and
// must not decide about mastership: it reports health and replication, and
// the daemon decides. What needs no client (reading mosquitto.conf, mapping
// topics across a bridge, checking topic names, the defaults) is package
// mqconf, which configuration code imports instead. It builds everywhere.
package mosquitto

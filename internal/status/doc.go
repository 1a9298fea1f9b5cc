// Package status is the model of what a running carpd reports: per
// virtual router its state, the last transition and its reason, the
// master, what it advertises and last heard, its packet counters and its
// recent transitions with their step timings; per shared socket the
// packets for no configured router; and, when carpd supervises the MQTT
// broker, the broker with its health check, DNAT rules and bridge probe.
//
// The same Report is the answer to the control socket's {"op":"status"},
// the content of STATE_DIR/status.json, the output of `carpd status
// --json` and the source of the Prometheus metrics, so its JSON shape is
// an interface: fields are added, never renamed or removed (the golden
// file in testdata pins it). Render draws the human table of `carpd
// status`.
//
// The package only describes and renders; internal/daemon fills a Report
// and must not be imported from here.
package status

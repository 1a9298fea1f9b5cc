package daemon

import "github.com/carpd/carpd/internal/status"

// The broker section of Status, defined in internal/status with the rest
// of the report so that `carpd status` and the metrics read the same
// types; the daemon fills it (Status.Broker) when it supervises a broker.
type (
	// BrokerStatus is the supervised broker in Status: the process, its
	// health, the DNAT rules and the bridge probe.
	BrokerStatus = status.Broker
	// HealthState is the periodic MQTT round trip to the local broker.
	HealthState = status.Health
	// NATStatus is the DNAT table: its mode and the rules applied.
	NATStatus = status.NAT
	// ProbeState is the bridge replication probe.
	ProbeState = status.Probe
	// PathState is one direction of replication.
	PathState = status.Path
)

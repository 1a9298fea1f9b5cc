package daemon

import "time"

// BrokerStatus is the supervised broker in Status: the process, its
// health, the DNAT rules and the bridge probe.
type BrokerStatus struct {
	Addr  string `json:"addr"` // the static address
	Phase string `json:"phase"`
	PID   int    `json:"pid,omitempty"`
	// Uptime of the current process.
	Uptime      string `json:"uptime,omitempty"`
	Ready       bool   `json:"ready"`
	TimeToReady string `json:"time_to_ready,omitempty"`
	// Restarts after crashes; Failures in a row; CrashLoop while they
	// keep failing.
	Restarts  int    `json:"restarts"`
	Failures  int    `json:"failures"`
	CrashLoop bool   `json:"crash_loop"`
	LastExit  string `json:"last_exit,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Unhealthy lists why the broker demotes the routers ("health",
	// "crash loop", "stopped"); empty when healthy.
	Unhealthy []string     `json:"unhealthy,omitempty"`
	Health    *HealthState `json:"health,omitempty"`
	NAT       NATStatus    `json:"nat"`
	Probe     *ProbeState  `json:"probe,omitempty"`
}

// HealthState is the periodic MQTT round trip to the local broker.
type HealthState struct {
	Healthy  bool      `json:"healthy"`
	Failures int       `json:"failures"`
	LastOK   time.Time `json:"last_ok"`
	RTT      string    `json:"rtt,omitempty"`
	LastErr  string    `json:"last_error,omitempty"`
}

// NATStatus is the DNAT table: its mode and the rules applied, as
// "VIP:PORT->STATIC:PORT".
type NATStatus struct {
	Mode      string   `json:"mode"`
	Rules     []string `json:"rules"`
	LastError string   `json:"last_error,omitempty"`
}

// ProbeState is the bridge replication probe.
type ProbeState struct {
	// Peer is the peer broker, "" while it is not known yet (learned
	// from the peer's advertisements).
	Peer  string      `json:"peer"`
	Paths []PathState `json:"paths,omitempty"`
	// BridgeState holds the mosquitto $SYS bridge notifications seen,
	// informative only: the probe is the truth.
	BridgeState map[string]string `json:"bridge_state,omitempty"`
}

// PathState is one direction of replication: out is local → peer.
type PathState struct {
	Direction string    `json:"direction"`
	State     string    `json:"state"` // unknown, ok, broken
	Since     time.Time `json:"since"`
	LastOK    time.Time `json:"last_ok"`
	RTT       string    `json:"rtt,omitempty"`
	Failures  int       `json:"failures"`
	LastErr   string    `json:"last_error,omitempty"`
}

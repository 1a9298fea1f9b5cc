package mqconf

import "time"

// Defaults of mosquitto.HealthConfig, which a zero field takes.
const (
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthTimeout  = 2 * time.Second
	DefaultHealthFailures = 3
)

// Defaults of mosquitto.ProbeConfig, which a zero field takes.
const (
	DefaultProbeInterval  = 5 * time.Second
	DefaultProbeDeadline  = 2 * time.Second
	DefaultBrokenAfter    = 2
	DefaultRestartTimeout = 30 * time.Second
)

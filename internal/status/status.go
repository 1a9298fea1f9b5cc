package status

import "time"

// MaxTransitions is how many recent transitions a Router keeps.
const MaxTransitions = 20

// Report is a running carpd's state. Broker is nil when carpd supervises
// no broker.
type Report struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Version is carpd's version; empty when not known.
	Version string `json:"version,omitempty"`
	// Config is the running configuration's history; nil before Run.
	Config  *Config  `json:"config,omitempty"`
	Routers []Router `json:"routers"`
	Sockets []Socket `json:"sockets,omitempty"`
	Broker  *Broker  `json:"broker,omitempty"`
}

// Config tells when the running configuration was loaded and whether the
// last reload (SIGHUP) failed.
type Config struct {
	// Loaded is when the running configuration was loaded: at start, or
	// by the last successful reload.
	Loaded time.Time `json:"loaded"`
	// ReloadError is why the last reload was refused, with the running
	// configuration kept; empty when it succeeded or none was tried.
	ReloadError string `json:"reload_error,omitempty"`
}

// Router is one virtual router.
type Router struct {
	Name  string `json:"name"`
	Iface string `json:"iface"`
	Proto string `json:"proto"` // carp, vrrp2, vrrp3
	ID    uint8  `json:"id"`    // vhid or vrid
	// State is INIT, BACKUP, MASTER, or FAULT for an INIT held by Faults.
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Reason is why the router entered State.
	Reason string `json:"reason"`
	// Master is the current master's address: ours while MASTER, empty
	// while none is known.
	Master     string     `json:"master,omitempty"`
	VIPs       []string   `json:"vips"`
	Advertised Advertised `json:"advertised"`
	// Heard is the last advertisement the state machine accepted; nil
	// until one arrives.
	Heard    *Heard   `json:"heard,omitempty"`
	Demotion Demotion `json:"demotion"`
	// Faults are why the router stays in FAULT (link down, a tracker).
	Faults   []string `json:"faults,omitempty"`
	Counters Counters `json:"counters"`
	// Transitions are the last MaxTransitions transitions, oldest first.
	Transitions []Transition `json:"transitions,omitempty"`
	// Peer is the heartbeat's view of the peer (peer.go).
	Peer *Peer `json:"peer,omitempty"`
}

// Advertised is a router's preference as it travels in adverts:
// advbase, advskew and demote for CARP, priority and interval for VRRP
// (smaller CARP values and larger VRRP priorities are preferred).
type Advertised struct {
	AdvBase  *uint8 `json:"advbase,omitempty"`
	AdvSkew  *uint8 `json:"advskew,omitempty"`
	Demote   *uint8 `json:"demote,omitempty"`
	Priority *uint8 `json:"priority,omitempty"`
	// Interval is the advertisement interval in Go duration syntax
	// ("1s", "1.0390625s").
	Interval string `json:"interval"`
}

// Heard is an advertisement received from another node.
type Heard struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	TTL  uint8     `json:"ttl"`
	Advertised
}

// Demotion shows the demotion inputs and their sum.
type Demotion struct {
	Manual   int  `json:"manual"`   // carpd demote
	Tracking int  `json:"tracking"` // failed trackers
	Claim    bool `json:"claim"`    // a claim failed recently
	Total    int  `json:"total"`
}

// Counters are a router's packet and transition counters since it
// started (a reload that restarts the router starts them again).
type Counters struct {
	Sent       uint64 `json:"sent"`
	SendErrors uint64 `json:"send_errors"`
	Received   uint64 `json:"received"`
	// Dropped counts received packets by drop reason (short, version,
	// type, length, checksum, auth, ttl, vhid, loop, interval, queue,
	// other); reasons never seen are absent.
	Dropped map[string]uint64 `json:"dropped"`
	// Announcements counts gratuitous ARP / unsolicited NA rounds, each
	// covering every VIP.
	Announcements uint64 `json:"announcements"`
	Transitions   uint64 `json:"transitions"`
	// HookFailures counts failed hook runs (timed out or non-zero exit)
	// by hook: up, down, notify; hooks that never failed are absent.
	HookFailures map[string]uint64 `json:"hook_failures,omitempty"`
}

// Transition is one state change and the steps that carried it out.
type Transition struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
	// Notify is the keepalived word the hooks got: MASTER, BACKUP,
	// FAULT or STOP.
	Notify string `json:"notify"`
	Reason string `json:"reason"`
	// Queued is how long the steps waited behind earlier work.
	Queued Duration `json:"queued"`
	// Took is the time of all steps; zero until Done.
	Took  Duration `json:"took"`
	Done  bool     `json:"done"`
	Steps []Step   `json:"steps"`
}

// Step is one step of a transition (vip-add, garp, up-hooks, ...).
type Step struct {
	Name  string   `json:"name"`
	Took  Duration `json:"took"`
	Error string   `json:"error,omitempty"`
}

// Socket is one shared protocol 112 socket; Dropped counts packets for no
// configured vhid/vrid and packets too short to name one.
type Socket struct {
	Iface   string            `json:"iface"`
	Family  int               `json:"family"`
	Src     string            `json:"src"`
	Group   string            `json:"group,omitempty"`
	Unicast bool              `json:"unicast,omitempty"`
	Dropped map[string]uint64 `json:"dropped"`
}

// Broker is the supervised MQTT broker with its health check, DNAT
// rules and bridge probe. Durations are Go duration strings, empty while
// unknown.
type Broker struct {
	Addr  string `json:"addr"`  // the static address
	Phase string `json:"phase"` // stopped, starting, running, backoff
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
	Unhealthy []string `json:"unhealthy,omitempty"`
	Health    *Health  `json:"health,omitempty"`
	NAT       NAT      `json:"nat"`
	Probe     *Probe   `json:"probe,omitempty"`
}

// Health is the periodic MQTT round trip to the local broker.
type Health struct {
	Healthy  bool      `json:"healthy"`
	Failures int       `json:"failures"`
	LastOK   time.Time `json:"last_ok"`
	RTT      string    `json:"rtt,omitempty"`
	LastErr  string    `json:"last_error,omitempty"`
}

// NAT is the DNAT table: its mode and the rules applied, as
// "VIP:PORT->STATIC:PORT".
type NAT struct {
	Mode      string   `json:"mode"`
	Rules     []string `json:"rules"`
	LastError string   `json:"last_error,omitempty"`
}

// Probe is the bridge replication probe.
type Probe struct {
	// Peer is the peer broker from the configuration; "" when the probe
	// is off.
	Peer string `json:"peer"`
	// Off says why the probe does not run (no peer configured); "" when
	// it runs.
	Off   string `json:"off,omitempty"`
	Paths []Path `json:"paths,omitempty"`
	// BridgeState holds the mosquitto $SYS bridge notifications seen,
	// informative only: the probe is the truth.
	BridgeState map[string]string `json:"bridge_state,omitempty"`
	// BridgeRefused counts notifications left out of BridgeState (too
	// many topics, or too long).
	BridgeRefused uint64 `json:"bridge_refused,omitempty"`
}

// Path is one direction of replication: out is local → peer.
type Path struct {
	Direction string    `json:"direction"`
	State     string    `json:"state"` // unknown, ok, broken
	Since     time.Time `json:"since"`
	LastOK    time.Time `json:"last_ok"`
	// RTT is the last successful probe's publish-to-delivery time.
	RTT      string `json:"rtt,omitempty"`
	Failures int    `json:"failures"` // in a row
	LastErr  string `json:"last_error,omitempty"`
}

package mosquitto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/mosquitto/mqconf"
)

// PathState is what the probe knows about one direction of replication.
type PathState uint8

// Path states.
const (
	// PathUnknown: no probe has completed yet.
	PathUnknown PathState = iota
	// PathOK: the last probe arrived in time.
	PathOK
	// PathBroken: BrokenAfter probes in a row did not arrive.
	PathBroken
)

func (s PathState) String() string {
	switch s {
	case PathUnknown:
		return "unknown"
	case PathOK:
		return "ok"
	case PathBroken:
		return "broken"
	}
	return fmt.Sprintf("PathState(%d)", uint8(s))
}

// PathStatus reports one direction of replication.
type PathStatus struct {
	// Direction is Out (local → peer) or In (peer → local).
	Direction mqconf.Direction
	State     PathState
	// Since is when State last changed.
	Since time.Time
	// LastOK is when a probe last arrived.
	LastOK time.Time
	// RTT is the last successful probe's time from publish on one broker
	// to delivery from the other, both taken on this host's clock.
	RTT time.Duration
	// Failures counts failed probes in a row.
	Failures int
	// LastErr is the last failure, "" if none.
	LastErr string
}

// ProbeStatus is a snapshot of a Probe.
type ProbeStatus struct {
	// Paths has Out before In, for the directions probed.
	Paths []PathStatus
	// BridgeState maps "local <topic>" and "peer <topic>" for each
	// $SYS/broker/connection/+/state topic seen to its payload ("1"
	// connected, "0" not). Informative only (mosquitto
	// publishes it with a Will and it can be stale); the probe is the truth. The peer broker controls it, so it
	// holds at most MaxBridgeState entries of at most MaxBridgeLen bytes.
	BridgeState map[string]string
	// BridgeRefused counts the notifications left out of BridgeState:
	// a new topic beyond MaxBridgeState, or a topic or payload longer
	// than MaxBridgeLen.
	BridgeRefused uint64
}

// Bounds on what a broker can make the probe keep: anything that can
// publish to $SYS/broker/connection/+/state on the peer (the broker itself
// or a client its ACL allows) chooses the topics and payloads. A pair of
// mosquitto bridges has a handful of connections, and a state payload is
// "0" or "1".
const (
	MaxBridgeState = 32
	MaxBridgeLen   = 256
	// maxErrLen bounds PathStatus.LastErr, which can quote the peer (a TLS
	// certificate's names, a broker's reason string).
	maxErrLen = 512
)

// ProbeConfig configures a bridge Probe. Zero durations and counts take the
// defaults named on each field.
type ProbeConfig struct {
	// Node and PeerNode name this node and the peer in probe topics.
	Node, PeerNode string
	// Local and Peer are the two brokers at their static addresses.
	Local, Peer Broker
	// Prefix is the probe topic prefix on the local broker; probes go to
	// Prefix/<from-node>/<seq>, which must be bridged (see
	// mqconf.BrokerConf.ProbeRoute).
	Prefix string
	// PeerPrefix is the same prefix on the peer (Prefix if empty), for a
	// bridge that remaps topics.
	PeerPrefix string
	// Direction is what to probe: Out, In or Both (Both if zero), as the
	// bridge's "topic" line carries it.
	Direction mqconf.Direction
	// Interval is the time between probes (5 s).
	Interval time.Duration
	// Deadline bounds one probe, connecting included (2 s); keep it below
	// Interval.
	Deadline time.Duration
	// BrokenAfter is how many failed probes in a row make a direction
	// broken (2).
	BrokenAfter int
	// RestartAfter, with Restart set, calls Restart after this many
	// failed probes in a row in any direction, and again after as many
	// more: the "bridge wedged" policy. Zero only reports.
	RestartAfter int
	// Restart restarts the bridging broker, for example Child.Restart.
	Restart func(context.Context) error
	// RestartTimeout bounds one call of Restart (30 s).
	RestartTimeout time.Duration
	// ClientID prefixes the probe's two client IDs ("carpd-probe-<Node>").
	ClientID string
	// OnChange, if set, is called from Run's goroutine when a direction
	// changes state. It must not block.
	OnChange func(PathStatus)
	// Logger gets state changes (slog.Default() if nil).
	Logger *slog.Logger
	// HeartbeatTopic, with OnHeartbeat, turns the heartbeat on
	// (heartbeat.go): PublishHeartbeat publishes on the peer's broker at
	// HeartbeatTopic/<Node>, and what any other node publishes at
	// HeartbeatTopic/+ on the local broker goes to OnHeartbeat (the peer
	// may name itself otherwise than PeerNode), on the MQTT client's
	// goroutine: it must not block.
	HeartbeatTopic string
	OnHeartbeat    func(payload []byte, at time.Time)
}

// stateFilter is where mosquitto bridges publish their connection state
// (mosquitto.conf(5), "notifications").
const stateFilter = "$SYS/broker/connection/+/state"

// Probe checks bridge replication end to end: a unique,
// non-retained QoS 1 message published on one broker must be delivered by
// the other within the deadline.
type Probe struct {
	cfg  ProbeConfig
	log  *slog.Logger
	dirs []mqconf.Direction
	// Probes from the peer arrive at the local session and the other
	// way round.
	localW, peerW waiters
	local, peer   *session // owned by Run
	// hbPeer and hbLocal are peer and local for the heartbeat, nil
	// while there is none; kick asks Run to redial a dead one
	// (heartbeat.go).
	hbPeer, hbLocal atomic.Pointer[session]
	kick            chan struct{}
	// hbOut and hbIn are heartbeatTopics' results, fixed by the config.
	hbOut, hbIn string
	lastRedial  time.Time // owned by Run
	// roundFailed and nextRound are owned by Run: whether the last round
	// failed on some path, and when the next one starts (redial).
	roundFailed bool
	nextRound   time.Time

	mu         sync.Mutex
	paths      map[mqconf.Direction]*PathStatus
	sys        map[string]string
	sysRefused uint64
}

// NewProbe checks cfg and returns a Probe that does nothing until Run.
func NewProbe(cfg ProbeConfig) (*Probe, error) {
	if cfg.Node == "" || cfg.PeerNode == "" || cfg.Node == cfg.PeerNode {
		return nil, errors.New("probe needs two different node names")
	}
	if cfg.Local.Addr == "" || cfg.Peer.Addr == "" {
		return nil, errors.New("probe needs both broker addresses")
	}
	if cfg.PeerPrefix == "" {
		cfg.PeerPrefix = cfg.Prefix
	}
	for _, p := range []string{cfg.Prefix, cfg.PeerPrefix} {
		if err := mqconf.ValidTopic(p); err != nil || p[0] == '$' {
			return nil, fmt.Errorf("probe topic prefix %q: not a plain topic", p)
		}
	}
	if cfg.Direction == 0 {
		cfg.Direction = mqconf.Both
	}
	setDefaults(&cfg)
	p := &Probe{
		cfg:   cfg,
		log:   cfg.Logger.With("check", "bridge-probe"),
		paths: make(map[mqconf.Direction]*PathStatus),
		sys:   make(map[string]string),
		kick:  make(chan struct{}, 1),
	}
	if cfg.HeartbeatTopic != "" && cfg.OnHeartbeat != nil {
		p.hbOut, p.hbIn = cfg.HeartbeatTopic+"/"+cfg.Node, cfg.HeartbeatTopic+"/+"
	}
	for _, d := range []mqconf.Direction{mqconf.Out, mqconf.In} {
		if cfg.Direction&d != 0 {
			p.dirs = append(p.dirs, d)
			p.paths[d] = &PathStatus{Direction: d}
		}
	}
	return p, nil
}

func setDefaults(c *ProbeConfig) {
	if c.Interval <= 0 {
		c.Interval = mqconf.DefaultProbeInterval
	}
	if c.Deadline <= 0 {
		c.Deadline = mqconf.DefaultProbeDeadline
	}
	if c.BrokenAfter <= 0 {
		c.BrokenAfter = mqconf.DefaultBrokenAfter
	}
	if c.RestartTimeout <= 0 {
		c.RestartTimeout = mqconf.DefaultRestartTimeout
	}
	if c.ClientID == "" {
		c.ClientID = "carpd-probe-" + c.Node
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Status returns a snapshot.
func (p *Probe) Status() ProbeStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := ProbeStatus{BridgeState: maps.Clone(p.sys), BridgeRefused: p.sysRefused}
	for _, d := range p.dirs {
		st.Paths = append(st.Paths, *p.paths[d])
	}
	return st
}

// Run probes every Interval until ctx is done, then disconnects and returns
// nil.
func (p *Probe) Run(ctx context.Context) error {
	defer p.dropAll()
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		results := p.round(ctx, seq)
		if ctx.Err() != nil {
			return nil
		}
		p.record(results)
		p.policy(ctx)
		p.roundFailed = slices.ContainsFunc(results, func(r result) bool { return r.err != nil })
		p.nextRound = time.Now().Add(p.cfg.Interval)
		// At most one redial per redialGap until the next round: bounded.
		var retry <-chan time.Time
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				waiting = false
			case <-p.kick:
			case <-retry:
			}
			if waiting {
				retry = nil
				if p.redial(ctx) {
					retry = time.After(redialGap)
				}
			}
		}
	}
}

func (p *Probe) dropAll() {
	p.hbPeer.Store(nil)
	p.hbLocal.Store(nil)
	for _, s := range []**session{&p.local, &p.peer} {
		if *s != nil {
			(*s).close()
			*s = nil
		}
	}
}

// policy calls Restart every RestartAfter failures in a row.
func (p *Probe) policy(ctx context.Context) {
	if p.cfg.RestartAfter <= 0 || p.cfg.Restart == nil {
		return
	}
	p.mu.Lock()
	due := false
	for _, d := range p.dirs {
		f := p.paths[d].Failures
		due = due || (f > 0 && f%p.cfg.RestartAfter == 0)
	}
	p.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RestartTimeout)
	defer cancel()
	t0 := time.Now()
	err := p.cfg.Restart(ctx)
	if err != nil {
		p.log.Error("restarting the bridging broker", "err", err)
		return
	}
	p.log.Warn("restarted the bridging broker: replication broken", "took", time.Since(t0))
}

// sysHandler records bridge state notifications of one side, within
// MaxBridgeState and MaxBridgeLen; it logs the first refusal only, so a
// flood costs neither memory nor log lines.
func (p *Probe) sysHandler(side string) func(message) {
	return func(m message) {
		key := side + " " + m.topic
		p.mu.Lock()
		old, seen := p.sys[key]
		ok := len(m.topic) <= MaxBridgeLen && len(m.payload) <= MaxBridgeLen && (seen || len(p.sys) < MaxBridgeState)
		if ok {
			p.sys[key] = m.payload
		} else {
			p.sysRefused++
		}
		first := !ok && p.sysRefused == 1
		p.mu.Unlock()
		switch {
		case first:
			p.log.Warn("bridge state notifications refused: too many topics or too long",
				"broker", side, "max_topics", MaxBridgeState, "max_len", MaxBridgeLen)
		case ok && (!seen || old != m.payload):
			p.log.Info("bridge state notification", "broker", side, "topic", m.topic, "state", m.payload)
		}
	}
}

// result is one direction's probe outcome.
type result struct {
	dir mqconf.Direction
	rtt time.Duration
	err error
}

// round probes every direction once, in parallel.
func (p *Probe) round(ctx context.Context, seq int) []result {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Deadline)
	defer cancel()
	localErr, peerErr := p.connect(ctx)
	results := make([]result, len(p.dirs))
	var wg sync.WaitGroup
	for i, d := range p.dirs {
		results[i].dir = d
		if err := errors.Join(localErr, peerErr); err != nil {
			results[i].err = err
			continue
		}
		src, dst, topic := p.local, &p.peerW, p.cfg.Prefix+"/"+p.cfg.Node
		if d == mqconf.In {
			src, dst, topic = p.peer, &p.localW, p.cfg.PeerPrefix+"/"+p.cfg.PeerNode
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].rtt, results[i].err = p.once(ctx, src, dst, topic+"/"+strconv.Itoa(seq))
		}()
	}
	wg.Wait()
	// A client whose publish failed may be wedged: replace it next round
	// (paho README: a fresh client after any doubt).
	for _, s := range []**session{&p.local, &p.peer} {
		if *s != nil && (!(*s).alive() || (*s).failed.Load()) {
			(*s).close()
			*s = nil
		}
	}
	p.hbPeer.Store(p.peer)
	p.hbLocal.Store(p.local)
	return results
}

package config

import (
	"net/netip"
	"time"

	"github.com/carpd/carpd/internal/secret"
	"github.com/carpd/carpd/mosquitto/mqconf"
	"go.yaml.in/yaml/v3"
)

// Broker defaults (docs/config.md, "broker"). Those of mosquitto's health
// check and probe are mqconf's, so a zero field there means the same as an
// absent key here. The supervisor's are carpd's own: the supervisor is a
// library with its own zero-value defaults, and importing it here would
// link process supervision into everything that reads the configuration;
// internal/broker passes these explicitly and checks that they agree.
const (
	DefaultBrokerPort    = 1883
	DefaultReadyTimeout  = 10 * time.Second
	DefaultStopTimeout   = 10 * time.Second
	DefaultBackoffBase   = time.Second
	DefaultBackoffCap    = 30 * time.Second
	DefaultHealthEvery   = mqconf.DefaultHealthInterval
	DefaultHealthTimeout = mqconf.DefaultHealthTimeout
	DefaultHealthFails   = mqconf.DefaultHealthFailures
	// DefaultHealthWeight loses every comparison (CARP skew clamps at
	// 240, VRRP priority at 1), so a healthy peer takes over.
	DefaultHealthWeight = 255
	DefaultHealthTopic  = "carpd/health"
	DefaultProbeEvery   = mqconf.DefaultProbeInterval
	DefaultProbeDue     = mqconf.DefaultProbeDeadline
	DefaultBrokenAfter  = mqconf.DefaultBrokenAfter
	DefaultRestartAfter = 3
	// DefaultHeartbeatTopic is outside every bridge pattern the docs
	// show (home/#, homeassistant/#, carpd/<node>/#): heartbeats go
	// straight to the peer's broker and must not be bridged back.
	DefaultHeartbeatTopic = "carpd-heartbeat"
)

// Broker is the MQTT broker carpd supervises on this node (key broker). The
// broker runs on every node for carpd's whole life, the backup included:
// the bridge needs both.
type Broker struct {
	// Command is the broker's argv, run in the foreground; default
	// mosquitto -c Config.
	Command []string
	// Config is the mosquitto.conf path, "" if not given.
	Config string
	// Conf is what carpd read of Config; nil when there is none or it
	// could not be read (a warning says why).
	Conf *mqconf.BrokerConf
	// Addr is the broker's static address. An invalid Addr (Port set)
	// means "the router's source address": the daemon fills it in.
	Addr     netip.AddrPort
	Username string
	Password secret.Secret
	Passfile string
	TLS      BrokerTLS

	// OnPromote is "restart" or "none", OnDemote "none" or "restart".
	OnPromote, OnDemote string
	// GARPBeforeReady sends the gratuitous ARP / NA burst before
	// restarting the broker instead of after its readiness. The default
	// (false) is the lab's measurement since the old master holds its
	// VIPs until the new master's announcement: equal client outage after
	// a node death, 71 ms instead of 263 ms on a planned handover
	// (docs/daemon.md).
	GARPBeforeReady bool

	ReadyTimeout, StopTimeout time.Duration
	BackoffBase, BackoffCap   time.Duration

	Health BrokerHealth
	// NAT is "dnat" or "none"; Ports are the DNATed ports.
	NAT   string
	Ports []uint16
	// Probe is the bridge probe; nil when not configured.
	Probe *BrokerProbe
	// HomeAssistant publishes the cluster state for Home Assistant.
	HomeAssistant HomeAssistant

	Line int
}

// BrokerTLS names the files for connecting to the broker's TLS listener.
type BrokerTLS struct {
	CA, Cert, Key string
}

// BrokerHealth is the periodic MQTT round trip to the local broker.
// Interval 0 turns it off. Failures failed round trips in a row, or a
// crash loop, demote every router by Weight until the broker recovers.
type BrokerHealth struct {
	Interval, Timeout time.Duration
	Failures, Weight  int
	Topic             string
}

// BrokerProbe checks that the bridge between the two brokers replicates.
type BrokerProbe struct {
	// Peer is the peer broker's static address: broker.probe.peer, or the
	// single unicast peer of a router at the broker's port. Invalid means
	// the probe is off: carpd never sends the probe's credentials to an
	// address it did not read from the configuration.
	Peer netip.AddrPort
	// PeerFrom says where Peer was configured ("broker.probe.peer",
	// "peers of router NAME"); "" when the probe is off.
	PeerFrom string
	// Topic is the probe topic prefix; PeerTopic the same topics on the
	// peer (different only when the bridge remaps them).
	Topic, PeerTopic string
	// Direction is out, in or both.
	Direction          mqconf.Direction
	Interval, Deadline time.Duration
	BrokenAfter        int
	// OnBroken is "report" or "restart" (the local broker, every
	// RestartAfter failures in a row).
	OnBroken     string
	RestartAfter int
	Username     string
	Password     secret.Secret
	Passfile     string
	// HeartbeatTopic is the prefix of the heartbeat the probe's
	// connections carry (docs/daemon.md, "Heartbeat"): published on the
	// peer's broker at HeartbeatTopic/<node>, read on the local one.
	HeartbeatTopic string
}

// brokerSpec is the broker section as written, with the lines of its keys.
type brokerSpec struct {
	b      Broker
	at     map[string]int
	failed map[string]bool
	dir    string
	addr   string
	probe  *probeSpec
}

type probeSpec struct {
	at   map[string]int
	peer string
}

func (s *brokerSpec) given(key string) (int, bool) {
	l, ok := s.at[key]
	return l, ok && !s.failed[key]
}

func (s *brokerSpec) lineOf(key string) int {
	if l, ok := s.at[key]; ok {
		return l
	}
	return s.b.Line
}

func brokerKeys() []string {
	return []string{"command", "config", "addr", "username", "password", "passfile", "tls", "on_promote",
		"on_demote", "garp_before_ready", "ready_timeout", "stop_timeout", "backoff", "health", "nat",
		"ports", "probe", "home_assistant"}
}

// broker reads the top-level broker section.
func (p *parser) broker(n *yaml.Node, dir string) *brokerSpec {
	s := &brokerSpec{at: map[string]int{}, failed: map[string]bool{}, dir: dir}
	b := &s.b
	b.Line = resolve(n).Line
	b.OnPromote, b.OnDemote, b.NAT = "restart", "none", "dnat"
	b.ReadyTimeout, b.StopTimeout = DefaultReadyTimeout, DefaultStopTimeout
	b.BackoffBase, b.BackoffCap = DefaultBackoffBase, DefaultBackoffCap
	b.Health = BrokerHealth{Interval: DefaultHealthEvery, Timeout: DefaultHealthTimeout,
		Failures: DefaultHealthFails, Weight: DefaultHealthWeight, Topic: DefaultHealthTopic}
	b.Ports = []uint16{DefaultBrokerPort}
	b.HomeAssistant = HomeAssistant{DiscoveryPrefix: DefaultDiscoveryPrefix}
	p.fields("broker", n, brokerKeys(), func(key string, k, v *yaml.Node) {
		s.at[key] = k.Line
		before := len(p.errs)
		p.brokerKey(s, key, v)
		s.failed[key] = len(p.errs) != before
	})
	return s
}

func (p *parser) brokerKey(s *brokerSpec, key string, v *yaml.Node) {
	b := &s.b
	k := "broker." + key
	switch key {
	case "command":
		b.Command, _ = p.argv(k, v)
	case "config":
		b.Config, _ = p.str(k, v)
	case "addr":
		s.addr, _ = p.str(k, v)
	case "username":
		b.Username, _ = p.str(k, v)
	case "password":
		var pw string
		pw, _ = p.str(k, v)
		b.Password = secret.Secret(pw)
	case "passfile":
		b.Passfile, _ = p.str(k, v)
	case "tls":
		p.fields(k, v, []string{"ca", "cert", "key"}, func(name string, _, v *yaml.Node) {
			dst := map[string]*string{"ca": &b.TLS.CA, "cert": &b.TLS.Cert, "key": &b.TLS.Key}[name]
			*dst, _ = p.str(k+"."+name, v)
		})
	case "on_promote":
		b.OnPromote, _ = p.enum(k, v, "restart", "none")
	case "on_demote":
		b.OnDemote, _ = p.enum(k, v, "none", "restart")
	case "garp_before_ready":
		b.GARPBeforeReady, _ = p.boolean(k, v)
	case "ready_timeout":
		b.ReadyTimeout, _ = p.durationIn(k, v, 100*time.Millisecond, 5*time.Minute, false)
	case "stop_timeout":
		b.StopTimeout, _ = p.durationIn(k, v, 100*time.Millisecond, 5*time.Minute, false)
	case "backoff":
		p.fields(k, v, []string{"base", "cap"}, func(name string, _, v *yaml.Node) {
			dst := map[string]*time.Duration{"base": &b.BackoffBase, "cap": &b.BackoffCap}[name]
			*dst, _ = p.durationIn(k+"."+name, v, 10*time.Millisecond, time.Hour, false)
		})
	case "health":
		p.health(&b.Health, v)
	case "nat":
		b.NAT, _ = p.enum(k, v, "dnat", "none")
	case "ports":
		p.ports(s, v)
	case "probe":
		s.probe = p.probe(b, v)
	case "home_assistant":
		p.homeAssistant(&b.HomeAssistant, v)
	}
}

// enum reads one of the allowed words.
func (p *parser) enum(key string, n *yaml.Node, allowed ...string) (string, bool) {
	s, ok := p.str(key, n)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	p.errorf(n.Line, "%s: %q is not %s", key, s, orList(allowed))
	return "", false
}

func orList(words []string) string {
	out := ""
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			out += " or "
		default:
			out += ", "
		}
		out += w
	}
	return out
}

func (p *parser) health(h *BrokerHealth, n *yaml.Node) {
	keys := []string{"interval", "timeout", "failures", "weight", "topic"}
	p.fields("broker.health", n, keys, func(name string, _, v *yaml.Node) {
		k := "broker.health." + name
		switch name {
		case "interval":
			h.Interval, _ = p.durationIn(k, v, 100*time.Millisecond, time.Hour, true)
		case "timeout":
			h.Timeout, _ = p.durationIn(k, v, 10*time.Millisecond, time.Minute, false)
		case "failures":
			h.Failures, _ = p.integer(k, v, 1, 255)
		case "weight":
			h.Weight, _ = p.integer(k, v, 1, 255)
		case "topic":
			if t, ok := p.str(k, v); ok {
				if err := mqconf.ValidTopic(t); err != nil {
					p.errorf(v.Line, "%s: %v", k, err)
				}
				h.Topic = t
			}
		}
	})
}

func (p *parser) ports(s *brokerSpec, n *yaml.Node) {
	var out []uint16
	seen := map[int]bool{}
	p.list("broker.ports", n, func(it *yaml.Node) {
		port, ok := p.integer("broker.ports", it, 1, 65535)
		if !ok {
			return
		}
		if seen[port] {
			p.errorf(it.Line, "broker.ports: %d is listed twice", port)
			return
		}
		seen[port] = true
		out = append(out, uint16(port))
	})
	if r := resolve(n); r.Kind == yaml.SequenceNode && len(r.Content) == 0 {
		p.errorf(n.Line, "broker.ports: the list is empty; use nat: none for no DNAT")
	}
	s.b.Ports = out
}

func (p *parser) probe(b *Broker, n *yaml.Node) *probeSpec {
	ps := &probeSpec{at: map[string]int{}}
	pr := &BrokerProbe{Direction: mqconf.Both, Interval: DefaultProbeEvery, Deadline: DefaultProbeDue,
		BrokenAfter: DefaultBrokenAfter, OnBroken: "report", RestartAfter: DefaultRestartAfter,
		HeartbeatTopic: DefaultHeartbeatTopic}
	b.Probe = pr
	keys := []string{"peer", "topic", "direction", "interval", "deadline", "broken_after", "on_broken",
		"restart_after", "username", "password", "passfile", "heartbeat_topic"}
	p.fields("broker.probe", n, keys, func(name string, kn, v *yaml.Node) {
		ps.at[name] = kn.Line
		k := "broker.probe." + name
		switch name {
		case "peer":
			ps.peer, _ = p.str(k, v)
		case "topic":
			pr.Topic, _ = p.str(k, v)
		case "direction":
			if d, ok := p.enum(k, v, "out", "in", "both"); ok {
				pr.Direction, _ = mqconf.ParseDirection(d)
			}
		case "interval":
			pr.Interval, _ = p.durationIn(k, v, 100*time.Millisecond, time.Hour, false)
		case "deadline":
			pr.Deadline, _ = p.durationIn(k, v, 10*time.Millisecond, time.Minute, false)
		case "broken_after":
			pr.BrokenAfter, _ = p.integer(k, v, 1, 255)
		case "on_broken":
			pr.OnBroken, _ = p.enum(k, v, "report", "restart")
		case "restart_after":
			pr.RestartAfter, _ = p.integer(k, v, 1, 255)
		case "username":
			pr.Username, _ = p.str(k, v)
		case "password":
			pw, _ := p.str(k, v)
			pr.Password = secret.Secret(pw)
		case "passfile":
			pr.Passfile, _ = p.str(k, v)
		case "heartbeat_topic":
			pr.HeartbeatTopic, _ = p.str(k, v)
		}
	})
	return ps
}

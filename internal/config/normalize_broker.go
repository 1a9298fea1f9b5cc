package config

import "github.com/carpd/carpd/internal/secret"

// outBroker fixes the order and spelling of the broker section in
// WriteNormalized.
type outBroker struct {
	Command         []string      `yaml:"command"`
	Config          string        `yaml:"config,omitempty"`
	Addr            string        `yaml:"addr"`
	Username        string        `yaml:"username,omitempty"`
	Password        secret.Secret `yaml:"password,omitempty"`
	Passfile        string        `yaml:"passfile,omitempty"`
	TLS             *outTLS       `yaml:"tls,omitempty"`
	OnPromote       string        `yaml:"on_promote"`
	OnDemote        string        `yaml:"on_demote"`
	GARPBeforeReady bool          `yaml:"garp_before_ready"`
	ReadyTimeout    string        `yaml:"ready_timeout"`
	StopTimeout     string        `yaml:"stop_timeout"`
	Backoff         outBackoff    `yaml:"backoff"`
	Health          outHealth     `yaml:"health"`
	NAT             string        `yaml:"nat"`
	Ports           []uint16      `yaml:"ports,flow"`
	Probe           *outProbe     `yaml:"probe,omitempty"`
	HomeAssistant   *outHass      `yaml:"home_assistant,omitempty"`
}

// outHass leaves out the node id and state prefix derived from the host
// name, so the output does not pin one host's name.
type outHass struct {
	Enabled          bool   `yaml:"enabled"`
	DiscoveryPrefix  string `yaml:"discovery_prefix"`
	NodeID           string `yaml:"node_id,omitempty"`
	StateTopicPrefix string `yaml:"state_topic_prefix,omitempty"`
}

type outTLS struct {
	CA   string `yaml:"ca,omitempty"`
	Cert string `yaml:"cert,omitempty"`
	Key  string `yaml:"key,omitempty"`
}

type outBackoff struct {
	Base string `yaml:"base"`
	Cap  string `yaml:"cap"`
}

type outHealth struct {
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
	Failures int    `yaml:"failures"`
	Weight   int    `yaml:"weight"`
	Topic    string `yaml:"topic"`
}

type outProbe struct {
	Peer         string        `yaml:"peer,omitempty"`
	Topic        string        `yaml:"topic"`
	Direction    string        `yaml:"direction"`
	Interval     string        `yaml:"interval"`
	Deadline     string        `yaml:"deadline"`
	BrokenAfter  int           `yaml:"broken_after"`
	OnBroken     string        `yaml:"on_broken"`
	RestartAfter *int          `yaml:"restart_after,omitempty"`
	Username     string        `yaml:"username,omitempty"`
	Password     secret.Secret `yaml:"password,omitempty"`
	Passfile     string        `yaml:"passfile,omitempty"`
	Heartbeat    string        `yaml:"heartbeat_topic"`
}

// normalizeBroker returns b as written back; an address the daemon derives
// from the routers is left out, so the output still loads.
func normalizeBroker(b *Broker) *outBroker {
	if b == nil {
		return nil
	}
	o := &outBroker{
		Command: b.Command, Config: b.Config, Username: b.Username, Passfile: b.Passfile,
		OnPromote: b.OnPromote, OnDemote: b.OnDemote, GARPBeforeReady: b.GARPBeforeReady,
		ReadyTimeout: b.ReadyTimeout.String(), StopTimeout: b.StopTimeout.String(),
		Backoff: outBackoff{Base: b.BackoffBase.String(), Cap: b.BackoffCap.String()},
		Health: outHealth{Interval: b.Health.Interval.String(), Timeout: b.Health.Timeout.String(),
			Failures: b.Health.Failures, Weight: b.Health.Weight, Topic: b.Health.Topic},
		NAT: b.NAT, Ports: b.Ports,
	}
	if b.Addr.Addr().IsValid() {
		o.Addr = b.Addr.String()
	}
	if b.Passfile == "" {
		o.Password = b.Password
	}
	if b.TLS != (BrokerTLS{}) {
		o.TLS = &outTLS{CA: b.TLS.CA, Cert: b.TLS.Cert, Key: b.TLS.Key}
	}
	if pr := b.Probe; pr != nil {
		op := &outProbe{Topic: pr.Topic, Direction: pr.Direction.String(), Interval: pr.Interval.String(),
			Deadline: pr.Deadline.String(), BrokenAfter: pr.BrokenAfter, OnBroken: pr.OnBroken,
			Username: pr.Username, Passfile: pr.Passfile, Heartbeat: pr.HeartbeatTopic}
		if pr.Peer.Addr().IsValid() {
			op.Peer = pr.Peer.String()
		}
		if pr.OnBroken == "restart" {
			n := pr.RestartAfter
			op.RestartAfter = &n
		}
		if pr.Passfile == "" {
			op.Password = pr.Password
		}
		o.Probe = op
	}
	if h := b.HomeAssistant; h.Enabled {
		o.HomeAssistant = &outHass{Enabled: true, DiscoveryPrefix: h.DiscoveryPrefix, NodeID: h.NodeID,
			StateTopicPrefix: h.StateTopicPrefix}
	}
	return o
}

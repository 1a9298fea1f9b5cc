package config

import (
	"fmt"
	"strings"

	"github.com/carpd/carpd/mosquitto/mqconf"
	"go.yaml.in/yaml/v3"
)

// DefaultDiscoveryPrefix is Home Assistant's default MQTT discovery
// prefix (its MQTT integration's "discovery_prefix").
const DefaultDiscoveryPrefix = "homeassistant"

// HomeAssistant publishes the cluster state to the local broker as
// retained messages with Home Assistant MQTT discovery (key
// broker.home_assistant). Every message is retained.
type HomeAssistant struct {
	Enabled bool
	// DiscoveryPrefix is where the discovery configs go.
	DiscoveryPrefix string
	// NodeID names this node in topics and unique ids; "" means the
	// host name, made safe by NodeID (filled in by the daemon).
	NodeID string
	// StateTopicPrefix is where the states go; "" means carpd/<node_id>.
	StateTopicPrefix string
}

// Resolve fills in the defaults that depend on the host: the node id from
// hostname and the state topic prefix from the node id.
func (h HomeAssistant) Resolve(hostname string) HomeAssistant {
	if h.NodeID == "" {
		h.NodeID = NodeID(hostname)
	}
	if h.StateTopicPrefix == "" {
		h.StateTopicPrefix = "carpd/" + h.NodeID
	}
	return h
}

// NodeID turns a host name into a node id: its first label, with every
// byte outside [A-Za-z0-9_-] replaced by '_', at most 64 bytes. Home
// Assistant uses the node id in entity ids and discovery topics, which
// allow only these.
func NodeID(hostname string) string {
	short, _, _ := strings.Cut(hostname, ".")
	b := []byte(short)
	for i, c := range b {
		if !nodeIDByte(c) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return "carpd"
	}
	return string(b)
}

func nodeIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// homeAssistant reads broker.home_assistant.
func (p *parser) homeAssistant(h *HomeAssistant, n *yaml.Node) {
	keys := []string{"enabled", "discovery_prefix", "node_id", "state_topic_prefix"}
	p.fields("broker.home_assistant", n, keys, func(name string, _, v *yaml.Node) {
		k := "broker.home_assistant." + name
		switch name {
		case "enabled":
			h.Enabled, _ = p.boolean(k, v)
		case "discovery_prefix":
			if s, ok := p.str(k, v); ok && p.plainPrefix(k, v, s) {
				h.DiscoveryPrefix = s
			}
		case "node_id":
			s, ok := p.str(k, v)
			if !ok {
				return
			}
			if err := checkNodeID(s); err != nil {
				p.errorf(v.Line, "%s: %v", k, err)
				return
			}
			h.NodeID = s
		case "state_topic_prefix":
			if s, ok := p.str(k, v); ok && p.plainPrefix(k, v, s) {
				h.StateTopicPrefix = s
			}
		}
	})
}

// plainPrefix checks a topic prefix carpd appends levels to.
func (p *parser) plainPrefix(key string, v *yaml.Node, s string) bool {
	err := mqconf.ValidTopic(s)
	switch {
	case err != nil:
		p.errorf(v.Line, "%s: %v", key, err)
	case strings.HasPrefix(s, "$"):
		p.errorf(v.Line, "%s: %q is under $, which brokers reserve", key, s)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		p.errorf(v.Line, "%s: %q has an empty level", key, s)
	default:
		return true
	}
	return false
}

func checkNodeID(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q must be 1..64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		if !nodeIDByte(s[i]) {
			return fmt.Errorf("%q may hold only letters, digits, '_' and '-'", s)
		}
	}
	return nil
}

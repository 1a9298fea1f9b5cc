package mqconf

import (
	"errors"
	"fmt"
	"strings"
)

// Map returns the filter (or topic) on the peer broker that this bridge
// carries filter on the local broker to or from, in direction dir (Out or
// In), and whether every topic filter can match is carried. mosquitto's
// bridge swaps the local prefix for the remote one (mosquitto.conf(5),
// "topic"): local topic = local-prefix + pattern, remote topic =
// remote-prefix + pattern.
func (b Bridge) Map(filter string, dir Direction) (string, bool) {
	for _, t := range b.Topics {
		if t.Direction&dir == 0 || !strings.HasPrefix(filter, t.LocalPrefix) {
			continue
		}
		if Covers(t.LocalPrefix+t.Pattern, filter) {
			return t.RemotePrefix + filter[len(t.LocalPrefix):], true
		}
	}
	return "", false
}

// ProbeRoute checks that a bridge of this broker carries every probe topic
// under prefix (prefix/<node>/<seq>) in each direction of dir, and returns
// the prefix the same topics have on the peer (prefix itself unless the
// bridge remaps it). A probe topic outside every bridged
// pattern, or under "$", can never arrive.
func (c *BrokerConf) ProbeRoute(prefix string, dir Direction) (string, error) {
	if err := ValidTopic(prefix); err != nil {
		return "", fmt.Errorf("probe topic prefix: %w", err)
	}
	if strings.HasPrefix(prefix, "$") {
		return "", fmt.Errorf("probe topic prefix %s starts with $: bridges do not carry it", prefix)
	}
	if len(c.Bridges) == 0 {
		return "", errors.New("broker config has no bridge (connection)")
	}
	filter := prefix + "/+/+"
	peer := ""
	for _, d := range []Direction{Out, In} {
		if dir&d == 0 {
			continue
		}
		remote, ok := c.mapProbe(filter, d)
		if !ok {
			return "", fmt.Errorf("probe topics %s are not carried %v by any bridge topic (%s)", filter, d, c.patterns())
		}
		p := strings.TrimSuffix(remote, "/+/+")
		if peer != "" && p != peer {
			return "", fmt.Errorf("probe topics %s are remapped to %s out but %s in", filter, peer, p)
		}
		peer = p
	}
	return peer, nil
}

// Carries reports whether a bridge carries some topic that filter
// matches, in either direction, and names the first such bridge.
func (c *BrokerConf) Carries(filter string) (string, bool) {
	for _, b := range c.Bridges {
		for _, t := range b.Topics {
			pat := t.LocalPrefix + t.Pattern
			if Covers(pat, filter) || Covers(filter, pat) {
				return b.Name, true
			}
		}
	}
	return "", false
}

func (c *BrokerConf) mapProbe(filter string, d Direction) (string, bool) {
	for _, b := range c.Bridges {
		if r, ok := b.Map(filter, d); ok {
			return r, true
		}
	}
	return "", false
}

// patterns lists the bridge topics for error messages.
func (c *BrokerConf) patterns() string {
	var ps []string
	for _, b := range c.Bridges {
		for _, t := range b.Topics {
			ps = append(ps, fmt.Sprintf("%s: %s%s %v", b.Name, t.LocalPrefix, t.Pattern, t.Direction))
		}
	}
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

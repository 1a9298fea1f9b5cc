package mqconf

import (
	"errors"
	"strings"
)

// MQTT 3.1.1 §4.7: topic names and filters are split into levels by "/";
// "+" matches one whole level, "#" the rest of the topic including its
// parent level, and neither matches a first level starting with "$".

// ValidFilter checks an MQTT topic filter (MQTT 3.1.1 §4.7.1).
func ValidFilter(filter string) error {
	if filter == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("topic filter " + filter + ": \"#\" is not the last level")
		case l != "#" && strings.Contains(l, "#"), l != "+" && strings.Contains(l, "+"):
			return errors.New("topic filter " + filter + ": wildcard not alone in its level")
		}
	}
	return nil
}

// ValidTopic checks an MQTT topic name, which has no wildcards (MQTT 3.1.1
// §4.7.3).
func ValidTopic(topic string) error {
	if topic == "" {
		return errors.New("empty topic name")
	}
	if strings.ContainsAny(topic, "+#") {
		return errors.New("topic name " + topic + " contains a wildcard")
	}
	return nil
}

// Covers reports whether every topic matched by filter sub is also matched by
// filter, for example whether a bridge pattern carries every topic a probe
// subscription can receive. Both are assumed valid. A topic name is a filter
// without wildcards, so Covers(filter, topic) is MQTT's topic matching.
func Covers(filter, sub string) bool {
	return covers(strings.Split(filter, "/"), strings.Split(sub, "/"), true)
}

// covers compares level by level. A wildcard in sub (a topic name has none)
// stands for any value of its level, so only a wildcard at least as wide in
// filter covers it.
func covers(f, s []string, first bool) bool {
	if len(f) == 0 {
		return len(s) == 0
	}
	// MQTT 3.1.1 §4.7.2: wildcards at the first level do not match
	// topics starting with "$"; a sub starting with a wildcard may
	// receive only non-"$" topics, so it is not restricted further.
	dollar := first && len(s) > 0 && strings.HasPrefix(s[0], "$")
	switch f[0] {
	case "#":
		// "a/#" also matches "a" itself.
		return !dollar
	case "+":
		if len(s) == 0 || s[0] == "#" || dollar {
			return false
		}
		return covers(f[1:], s[1:], false)
	}
	if len(s) == 0 {
		return false
	}
	if s[0] == "#" {
		return false
	}
	if s[0] == "+" || s[0] != f[0] {
		return false
	}
	return covers(f[1:], s[1:], false)
}

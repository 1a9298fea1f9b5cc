package mqconf

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCoversTopic checks Covers on topic names: MQTT's topic matching.
func TestCoversTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"home/#", "home/carpd-probe/n1/7", true},
		{"home/#", "home", true}, // §4.7.1.2: "sport/#" matches "sport"
		{"home/#", "homes/x", false},
		{"#", "a/b/c", true},
		{"#", "$SYS/broker/uptime", false},
		{"+/broker/uptime", "$SYS/broker/uptime", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
		{"$SYS/broker/connection/+/state", "$SYS/broker/connection/bridge-n1/state", true},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/+", "a/b/c", false},
		{"a/+", "a/", true}, // empty level
		{"+", "/a", false},
		{"+/+", "/a", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"home/carpd-probe/+/+", "home/carpd-probe/n2/15", true},
	}
	for _, tt := range tests {
		if got := Covers(tt.filter, tt.topic); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		filter, sub string
		want        bool
	}{
		{"home/#", "home/carpd-probe/+/+", true},
		{"home/#", "home/#", true},
		{"home/+/#", "home/#", false}, // "home/#" also receives "home"
		{"home/+", "home/#", false},
		{"home/+/+/+", "home/carpd-probe/+/+", true},
		{"home/+/+", "home/carpd-probe/+/+", false},
		{"home/carpd-probe/n1/+", "home/carpd-probe/+/+", false},
		{"#", "+/x", true},
		{"+/x", "#", false},
		{"#", "$SYS/#", false},
		{"$SYS/#", "$SYS/broker/+", true},
		{"other/#", "home/carpd-probe/+/+", false},
		{"a/b", "a/b", true},
	}
	for _, tt := range tests {
		if got := Covers(tt.filter, tt.sub); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.filter, tt.sub, got, tt.want)
		}
	}
}

func TestValidFilter(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
	}{
		{"home/#", true},
		{"#", true},
		{"+/+/#", true},
		{"", false},
		{"home/#/x", false},
		{"home#", false},
		{"ho+me/x", false},
		{"a//b", true},
	}
	for _, tt := range tests {
		got := ValidFilter(tt.filter) == nil
		if diff := cmp.Diff(tt.ok, got); diff != "" {
			t.Errorf("ValidFilter(%q) ok (-want +got):\n%s", tt.filter, diff)
		}
	}
	if ValidTopic("a/+/b") == nil || ValidTopic("") == nil || ValidTopic("a/b") != nil {
		t.Error("ValidTopic accepts a wildcard or an empty name, or rejects a plain name")
	}
}

package hass

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var testNode = Node{ID: "node1", DiscoveryPrefix: "homeassistant", StatePrefix: "carpd/node1",
	Version: "v0.3.0 commit 0b55d18", ExpireAfter: 3 * time.Minute}

// TestDiscoveryGolden keeps each discovery config in a golden file,
// indented; the topic is the file's first line.
func TestDiscoveryGolden(t *testing.T) {
	tests := []struct {
		file string
		msg  Message
	}{
		{"binary_sensor_master.json", testNode.MasterConfig("mqtt")},
		{"binary_sensor_master_dotted.json", testNode.MasterConfig("mqtt.v6")},
		{"binary_sensor_adverts_lost.json", testNode.AdvertsLostConfig("mqtt")},
		{"sensor_latency_out.json", testNode.LatencyConfig("out")},
		{"sensor_latency_in.json", testNode.LatencyConfig("in")},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := json.Indent(&buf, []byte(tt.msg.Payload), "", "  "); err != nil {
				t.Fatalf("payload is not JSON: %v\n%s", err, tt.msg.Payload)
			}
			testutil.Golden(t, filepath.Join("testdata", tt.file), "// "+tt.msg.Topic+"\n"+buf.String()+"\n", *update)
		})
	}
}

// TestStateGolden keeps the state messages, one "topic payload" a line.
func TestStateGolden(t *testing.T) {
	msgs := []Message{
		{testNode.Availability(), Online},
		{testNode.Availability(), Offline},
		{testNode.MasterTopic("mqtt"), MasterPayload(true)},
		{testNode.MasterTopic("mqtt"), MasterPayload(false)},
		{testNode.LatencyTopic("out"), LatencyPayload(12345*time.Microsecond, true)},
		{testNode.LatencyTopic("in"), LatencyPayload(800*time.Microsecond, true)},
		{testNode.LatencyTopic("in"), LatencyPayload(0, false)},
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s %s\n", m.Topic, m.Payload)
	}
	testutil.Golden(t, filepath.Join("testdata", "states.golden"), b.String(), *update)
}

// TestDiscoveryShape checks what Home Assistant relies on, independently
// of the golden files: unique ids distinct per node and entity, the state
// and availability topics the Publisher uses, one device per node.
func TestDiscoveryShape(t *testing.T) {
	other := testNode
	other.ID, other.StatePrefix = "node2", "carpd/node2"
	type shape struct {
		UniqueID, StateTopic, Availability, Device string
	}
	get := func(m Message) shape {
		var e entity
		if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
			t.Fatal(err)
		}
		return shape{e.UniqueID, e.StateTopic, e.AvailabilityTopic, strings.Join(e.Device.Identifiers, ",")}
	}
	got := []shape{get(testNode.MasterConfig("mqtt")), get(other.MasterConfig("mqtt")), get(testNode.LatencyConfig("out"))}
	want := []shape{
		{"carpd_node1_mqtt_master", "carpd/node1/mqtt/master", "carpd/node1/availability", "carpd_node1"},
		{"carpd_node2_mqtt_master", "carpd/node2/mqtt/master", "carpd/node2/availability", "carpd_node2"},
		{"carpd_node1_bridge_out_latency", "carpd/node1/probe/out/latency", "carpd/node1/availability", "carpd_node1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
	if a, b := testNode.MasterConfig("mqtt").Topic, other.MasterConfig("mqtt").Topic; a == b {
		t.Errorf("both nodes use discovery topic %s", a)
	}
}

func TestLatencyPayload(t *testing.T) {
	tests := []struct {
		rtt  time.Duration
		ok   bool
		want string
	}{
		{0, true, "0.0"},
		{1449 * time.Microsecond, true, "1.4"},
		{1451 * time.Microsecond, true, "1.5"},
		{2 * time.Second, true, "2000.0"},
		{time.Second, false, "None"},
	}
	for _, tt := range tests {
		if got := LatencyPayload(tt.rtt, tt.ok); got != tt.want {
			t.Errorf("LatencyPayload(%v, %v) = %q, want %q", tt.rtt, tt.ok, got, tt.want)
		}
	}
}

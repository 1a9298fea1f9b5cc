//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"
)

// hassFilters are what Home Assistant (discovery) and a bridge (the
// states) subscribe to, in the default prefixes docs/home-assistant.md
// names.
var hassFilters = map[string]byte{"homeassistant/#": 1, "carpd/#": 1}

// TestLabHomeAssistant runs the Home Assistant publisher inside the real
// carpd on both nodes of a broker lab and reads each node's broker from
// the client namespace, checking what docs/home-assistant.md promises:
// retained discovery configs per router and probed direction, online and
// the master's ON, the backup's OFF; after a planned handover (SIGTERM to
// the master's carpd) the old master's OFF then offline before its broker
// stops, and the new master's ON, retained again on its restarted broker.
func TestLabHomeAssistant(t *testing.T) {
	l, _, nodes := newBrokerLab(t, brokerSetup{vrid: 70, homeAssistant: true})
	n1, n2 := nodes[0], nodes[1]
	w1 := watchHass(t, l.Client, n1.static.String(), "hasslab-watch-n1")
	w2 := watchHass(t, l.Client, n2.static.String(), "hasslab-watch-n2")

	waitRetained(t, l.Client, n1.static.String(), wantHass("n1", "ON"), 5*time.Second)
	waitRetained(t, l.Client, n2.static.String(), wantHass("n2", "OFF"), 5*time.Second)
	// The probe feeds the latency sensors at most once per interval; a
	// replicating bridge gives a number within a few intervals.
	w1.waitFor(t, 4*probeInterval, "carpd/n1/probe/out/latency", isLatencyMS)

	mark := w1.len()
	start := time.Now()
	if err := n1.carpd.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n2.carpd.waitState(t, "MASTER", 5*time.Second)
	w2.waitFor(t, 5*time.Second, "carpd/n2/mqtt/master", func(p string) bool { return p == "ON" })
	t.Logf("n2's ON seen %v after the SIGTERM", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.carpd.Wait(ctx); err != nil {
		t.Fatalf("carpd after SIGTERM: %v, want exit 0", err)
	}
	// "On shutdown, the routers' last states (OFF, they have left), then
	// offline, before the broker is stopped": n1's broker is gone now, so
	// only the live subscription saw them. A broker stopped before it has
	// read the publisher's DISCONNECT also sends the Will, the same
	// offline again (mosquitto 2.0.11 sends Wills when it stops).
	got := slices.Compact(w1.since(mark, "carpd/n1/mqtt/master", "carpd/n1/availability"))
	want := []string{"carpd/n1/mqtt/master OFF", "carpd/n1/availability offline"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("n1's states after SIGTERM (-want +got):\n%s", diff)
	}
	// on_promote restart with persistence false: n2's broker lost its
	// retained messages in the promotion; the publisher, reconnected,
	// sends everything again.
	lab.Wait(t, 5*time.Second, "n2's promotion done", func() bool {
		return strings.Contains(readLog(t, n2.carpd), `"to":"MASTER","state":"MASTER"`)
	})
	waitRetained(t, l.Client, n2.static.String(), wantHass("n2", "ON"), 5*time.Second)
}

// hassConfig is the part of a discovery config the test checks.
type hassConfig struct {
	UniqueID          string `json:"unique_id"`
	StateTopic        string `json:"state_topic"`
	AvailabilityTopic string `json:"availability_topic"`
	PayloadOn         string `json:"payload_on"`
	PayloadOff        string `json:"payload_off"`
	Unit              string `json:"unit_of_measurement"`
	Device            struct {
		Identifiers []string `json:"identifiers"`
	} `json:"device"`
	ExpireAfter int    `json:"expire_after"`
	Err         string `json:"-"` // the payload when it is no JSON
}

// hassView is the retained Home Assistant state of one broker: discovery
// configs and states, a valid latency (a number or None) shown as
// anyLatency.
type hassView struct {
	Configs map[string]hassConfig
	States  map[string]string
}

// wantHass is the retained view of node id with master ("ON" / "OFF") and
// a probe in both directions, from docs/home-assistant.md's topic table.
func wantHass(id, master string) hassView {
	cfg := func(unique, state, on, off, unit string) hassConfig {
		c := hassConfig{UniqueID: "carpd_" + id + "_" + unique, StateTopic: "carpd/" + id + "/" + state,
			AvailabilityTopic: "carpd/" + id + "/availability", PayloadOn: on, PayloadOff: off, Unit: unit,
			ExpireAfter: 180}
		c.Device.Identifiers = []string{"carpd_" + id}
		return c
	}
	disc := func(component, object string) string {
		return fmt.Sprintf("homeassistant/%s/carpd_%s/%s/config", component, id, object)
	}
	return hassView{
		Configs: map[string]hassConfig{
			disc("binary_sensor", "mqtt_master"): cfg("mqtt_master", "mqtt/master", "ON", "OFF", ""),
			// The broker lab runs the heartbeat with split_brain resolve.
			disc("binary_sensor", "mqtt_adverts_lost"): cfg("mqtt_adverts_lost", "mqtt/adverts_lost", "ON", "OFF", ""),
			disc("sensor", "bridge_out_latency"):       cfg("bridge_out_latency", "probe/out/latency", "", "", "ms"),
			disc("sensor", "bridge_in_latency"):        cfg("bridge_in_latency", "probe/in/latency", "", "", "ms"),
		},
		States: map[string]string{
			"carpd/" + id + "/availability":      "online",
			"carpd/" + id + "/mqtt/master":       master,
			"carpd/" + id + "/mqtt/adverts_lost": "OFF",
			"carpd/" + id + "/probe/out/latency": anyLatency,
			"carpd/" + id + "/probe/in/latency":  anyLatency,
		},
	}
}

// anyLatency stands for any valid latency payload in a hassView.
const anyLatency = "<ms or None>"

var latencyMS = regexp.MustCompile(`^[0-9]+\.[0-9]$`)

func isLatencyMS(p string) bool { return latencyMS.MatchString(p) }

// view turns retained messages into a hassView.
func view(msgs map[string]string) hassView {
	v := hassView{Configs: map[string]hassConfig{}, States: map[string]string{}}
	for topic, p := range msgs {
		if strings.HasPrefix(topic, "homeassistant/") {
			var c hassConfig
			if err := json.Unmarshal([]byte(p), &c); err != nil {
				c = hassConfig{Err: p}
			}
			v.Configs[topic] = c
			continue
		}
		// A latency is either unknown or a number: which one depends on
		// the probe's timing, not on the publisher.
		if strings.HasSuffix(topic, "/latency") && (p == "None" || isLatencyMS(p)) {
			p = anyLatency
		}
		v.States[topic] = p
	}
	return v
}

// waitRetained reads the retained messages of the broker at addr from c
// until they make want, bounded by timeout; each read is a fresh
// subscription, so only retained messages count.
func waitRetained(t *testing.T, c *lab.Node, addr string, want hassView, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var diff string
	err := lab.WaitFor(ctx, 100*time.Millisecond, func() bool {
		msgs, err := retained(c, addr)
		if err != nil {
			diff = err.Error()
			return false
		}
		diff = cmp.Diff(want, view(msgs))
		return diff == ""
	})
	if err != nil {
		t.Fatalf("retained Home Assistant messages on %s after %v (-want +got):\n%s", addr, timeout, diff)
	}
}

// retained subscribes to hassFilters on addr and returns the retained
// messages that arrive within 300 ms.
func retained(c *lab.Node, addr string) (map[string]string, error) {
	var mu sync.Mutex
	got := map[string]string{}
	cl := hassClient(c, addr, "hasslab-retained", nil)
	if tok := cl.Connect(); !tok.WaitTimeout(time.Second) || tok.Error() != nil {
		return nil, errOr(tok.Error(), "connecting to "+addr+": no answer")
	}
	defer cl.Disconnect(0)
	tok := cl.SubscribeMultiple(hassFilters, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			mu.Lock()
			got[m.Topic()] = string(m.Payload())
			mu.Unlock()
		}
	})
	if !tok.WaitTimeout(time.Second) || tok.Error() != nil {
		return nil, errOr(tok.Error(), "subscribing on "+addr+": no answer")
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(got), nil
}

// errOr is err, or an error saying what when a token timed out.
func errOr(err error, what string) error {
	if err != nil {
		return err
	}
	return errors.New(what)
}

// hassClient is a paho client dialing addr from inside c. With
// onConnect it reconnects every 250 ms (a broker restarted by a
// promotion) and calls onConnect after each connection.
func hassClient(c *lab.Node, addr, id string, onConnect func(mqtt.Client)) mqtt.Client {
	dial := labDialer(c)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true).
		SetKeepAlive(time.Second).SetPingTimeout(time.Second).SetConnectTimeout(time.Second).
		SetWriteTimeout(time.Second).SetAutoReconnect(onConnect != nil).
		SetMaxReconnectInterval(250 * time.Millisecond).SetOnConnectHandler(onConnect)
	o.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return dial(ctx, addr)
	})
	return mqtt.NewClient(o)
}

// hassWatch records every message on hassFilters of one broker, live
// ones included, subscribing again after each reconnection.
type hassWatch struct {
	mu   sync.Mutex
	msgs []string // "topic payload", in arrival order
	last map[string]string
	subs int // subscriptions acknowledged
}

// watchHass connects a hassWatch to addr from c and waits for its first
// subscription; it disconnects when the test ends.
func watchHass(t *testing.T, c *lab.Node, addr, id string) *hassWatch {
	t.Helper()
	w := &hassWatch{last: map[string]string{}}
	cl := hassClient(c, addr, id, func(cl mqtt.Client) {
		// Clean session: every connection subscribes again. paho calls
		// this on its own goroutine, so it may wait.
		if tok := cl.SubscribeMultiple(hassFilters, w.record); tok.WaitTimeout(time.Second) && tok.Error() == nil {
			w.mu.Lock()
			w.subs++
			w.mu.Unlock()
		}
	})
	if tok := cl.Connect(); !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
		t.Fatal(errOr(tok.Error(), "connecting to "+addr+": no answer"))
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	lab.Wait(t, 2*time.Second, "subscribed to "+addr, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.subs > 0
	})
	return w
}

func (w *hassWatch) record(_ mqtt.Client, m mqtt.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, m.Topic()+" "+string(m.Payload()))
	w.last[m.Topic()] = string(m.Payload())
}

// len is the number of messages received so far.
func (w *hassWatch) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// since returns the messages on topics received after the first i.
func (w *hassWatch) since(i int, topics ...string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []string{}
	for _, m := range w.msgs[i:] {
		topic, _, _ := strings.Cut(m, " ")
		if slices.Contains(topics, topic) {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits until the last payload on topic satisfies ok.
func (w *hassWatch) waitFor(t *testing.T, timeout time.Duration, topic string, ok func(string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	err := lab.WaitFor(ctx, 20*time.Millisecond, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		p, seen := w.last[topic]
		last = fmt.Sprintf("%q (seen %t)", p, seen)
		return seen && ok(p)
	})
	if err != nil {
		t.Fatalf("waiting %v for %s: last payload %s", timeout, topic, last)
	}
}

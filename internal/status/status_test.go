package status

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
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func u8(v uint8) *uint8 { return &v }

// now is the fixture's reference time, in UTC so the golden table does
// not depend on the machine's zone.
var now = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fixture is a Report with every section filled: a CARP master that took
// over from a peer, a VRRPv3 router held in FAULT (INIT) by a fault, a socket
// with drops, and a broker with health, DNAT rules and a probe with one
// broken direction.
func fixture() Report {
	t0 := now.Add(-2 * time.Hour)
	promoted := now.Add(-90 * time.Second)
	return Report{
		PID: 4242, Started: t0,
		Routers: []Router{
			{
				Name: "carp7", Iface: "eth0.20", Proto: "carp", ID: 7, State: "MASTER", Since: promoted,
				Reason: "master down: no advertisement for 3.1s", Master: "198.18.0.1",
				VIPs:       []string{"198.18.0.100/32"},
				Advertised: Advertised{AdvBase: u8(1), AdvSkew: u8(0), Demote: u8(0), Interval: "1s"},
				Heard: &Heard{At: promoted.Add(-3100 * time.Millisecond), From: "198.18.0.2", TTL: 255,
					Advertised: Advertised{AdvBase: u8(1), AdvSkew: u8(100), Demote: u8(0), Interval: "1.390625s"}},
				Counters: Counters{Sent: 93, Received: 7172, Dropped: map[string]uint64{"auth": 3, "ttl": 1},
					Announcements: 6, Transitions: 2},
				Peer: &Peer{SplitBrain: "resolve", Node: "198.18.0.2", State: "MASTER",
					At: now.Add(-150 * time.Millisecond), Age: Duration(150 * time.Millisecond), Fresh: true,
					Advertised: &Advertised{AdvBase: u8(1), AdvSkew: u8(100), Demote: u8(0), Interval: "1.390625s"},
					Heartbeats: 5400, DualMaster: true, DualSeconds: 0.4, AdvertsLostTotal: 1},
				Transitions: []Transition{
					{At: t0, From: "INIT", To: "BACKUP", Notify: "BACKUP", Reason: "start",
						Queued: Duration(20 * time.Microsecond), Took: Duration(1500 * time.Microsecond), Done: true,
						Steps: []Step{{"vip-remove", Duration(400 * time.Microsecond), ""},
							{"down-hooks", Duration(0), ""}, {"notify", Duration(1100 * time.Microsecond), ""}}},
					{At: promoted, From: "BACKUP", To: "MASTER", Notify: "MASTER",
						Reason: "master down: no advertisement for 3.1s", Queued: Duration(15 * time.Microsecond),
						Took: Duration(42 * time.Millisecond), Done: true,
						Steps: []Step{{"vip-add", Duration(2 * time.Millisecond), ""},
							{"garp", Duration(time.Millisecond), ""},
							{"up-hooks", Duration(30 * time.Millisecond), "up hook /etc/carpd/up: exit status 1"},
							{"notify", Duration(9 * time.Millisecond), ""}}},
				},
			},
			{
				Name: "mqtt6", Iface: "eth1", Proto: "vrrp3", ID: 51, State: "FAULT", Since: now.Add(-400 * time.Millisecond),
				Reason: "fault: link down", VIPs: []string{"2001:2::100/128"},
				Advertised: Advertised{Priority: u8(90), Interval: "1s"},
				Demotion:   Demotion{Manual: 2, Tracking: 8, Claim: true, Total: 265},
				Faults:     []string{"link down"},
				Counters:   Counters{Sent: 0, Dropped: map[string]uint64{}, Transitions: 1},
				Transitions: []Transition{
					{At: now.Add(-400 * time.Millisecond), From: "BACKUP", To: "INIT", Notify: "FAULT",
						Reason: "fault: link down", Steps: []Step{{"vip-remove", Duration(300 * time.Microsecond), ""}}},
				},
			},
		},
		Sockets: []Socket{
			{Iface: "eth0.20", Family: 4, Src: "198.18.0.1", Group: "224.0.0.18", Dropped: map[string]uint64{"vhid": 12}},
			{Iface: "eth1", Family: 6, Src: "fe80::1", Unicast: true, Dropped: map[string]uint64{}},
		},
		Broker: &Broker{Addr: "198.18.0.1", Phase: "running", PID: 4300, Uptime: "1m29s", Ready: true,
			TimeToReady: "180ms", Restarts: 1, LastExit: "signal killed", LastError: "exit status -1 (signal killed)",
			Health: &Health{Healthy: true, LastOK: now.Add(-time.Second), RTT: "1.2ms"},
			NAT:    NAT{Mode: "dnat", Rules: []string{"198.18.0.100:1883->198.18.0.1:1883"}},
			Probe: &Probe{Peer: "198.18.0.2", Paths: []Path{
				{Direction: "out", State: "ok", Since: now.Add(-80 * time.Second), LastOK: now.Add(-2 * time.Second),
					RTT: "3.2ms"},
				{Direction: "in", State: "broken", Since: now.Add(-30 * time.Second), LastOK: now.Add(-95 * time.Second),
					RTT: "2.9ms", Failures: 6, LastErr: "no probe within 5s"},
			}, BridgeState: map[string]string{"local bridge-b": "1", "peer bridge-a": "0"}},
		},
	}
}

// TestJSONShape pins the JSON shape: the keys and encodings a status
// reader depends on, and that decoding gives back the same Report.
func TestJSONShape(t *testing.T) {
	b, err := json.MarshalIndent(fixture(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "report.json"), string(b)+"\n", *update)
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fixture(), back); diff != "" {
		t.Errorf("decoded report (-want +got):\n%s", diff)
	}
}

// TestJSONMinimal checks that the optional sections and an unset Heard
// are left out rather than written as null.
func TestJSONMinimal(t *testing.T) {
	r := Report{PID: 1, Started: now, Routers: []Router{{Name: "vr", State: "BACKUP", VIPs: []string{},
		Counters: Counters{Dropped: map[string]uint64{}}}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	router := m["routers"].([]any)[0].(map[string]any)
	for k := range router {
		keys = append(keys, "routers[0]."+k)
	}
	want := []string{"pid", "started", "routers",
		"routers[0].name", "routers[0].iface", "routers[0].proto", "routers[0].id", "routers[0].state",
		"routers[0].since", "routers[0].reason", "routers[0].vips", "routers[0].advertised",
		"routers[0].demotion", "routers[0].counters"}
	if diff := cmp.Diff(want, keys, sortStrings); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

// TestRender pins the human table.
func TestRender(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixture(), now); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "report.txt"), buf.String(), *update)
}

// TestRenderEmpty renders a daemon with no routers and no sections.
func TestRenderEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, Report{PID: 7, Started: now.Add(-1500 * time.Millisecond)}, now); err != nil {
		t.Fatal(err)
	}
	want := "carpd pid 7, running for 2s\n\nno virtual routers running\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRenderReloadRefused shows a refused reload under the header, every
// error line, with the age of the configuration still running.
func TestRenderReloadRefused(t *testing.T) {
	var buf bytes.Buffer
	r := Report{PID: 7, Started: now.Add(-time.Hour), Config: &Config{Loaded: now.Add(-20 * time.Minute),
		ReloadError: "/etc/carpd/carpd.yaml:7: vhid: 0 is out of range 1..255\n/etc/carpd/carpd.yaml:9: vips: none"}}
	if err := Render(&buf, r, now); err != nil {
		t.Fatal(err)
	}
	want := `carpd pid 7, running for 1h0m0s
last reload refused; running the configuration loaded 20m0s ago:
  /etc/carpd/carpd.yaml:7: vhid: 0 is out of range 1..255
  /etc/carpd/carpd.yaml:9: vips: none

no virtual routers running
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDuration round-trips the duration encoding and refuses junk.
func TestDuration(t *testing.T) {
	for _, d := range []time.Duration{0, 1500 * time.Microsecond, 3 * time.Second, 90 * time.Minute} {
		b, err := json.Marshal(Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != d {
			t.Errorf("%v: encoded %s, decoded %v, %v", d, b, time.Duration(back), err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Errorf(`decoding "soon" succeeded`)
	}
}

// TestRenderTruncates shows only the newest transitions in the table.
func TestRenderTruncates(t *testing.T) {
	r := Report{PID: 1, Started: now, Routers: []Router{{Name: "vr", State: "BACKUP", Since: now}}}
	for i := range 7 {
		r.Routers[0].Transitions = append(r.Routers[0].Transitions, Transition{At: now, From: "MASTER",
			To: "BACKUP", Done: true, Reason: fmt.Sprintf("reason %d", i)})
	}
	var buf bytes.Buffer
	if err := Render(&buf, r, now); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, "transitions (") || strings.Contains(line, "reason ") {
			got = append(got, strings.TrimSpace(line[strings.LastIndex(line, ":")+1:]))
		}
	}
	want := []string{"last 5 of 7 transitions (oldest first; --json has all)", "reason 2", "reason 3", "reason 4",
		"reason 5", "reason 6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s\n%s", diff, buf.String())
	}
}

// TestRenderPeerStrings shows what the peer broker chooses (bridge
// topics and payloads, error text quoting it) quoted when it holds
// terminal control characters, and a probe that is off with its reason.
func TestRenderPeerStrings(t *testing.T) {
	cls := "\x1b[2J"
	b := &Broker{Addr: "198.18.0.1:1883", Phase: "running", NAT: NAT{Mode: "none"}, Probe: &Probe{
		Peer:  "198.18.0.2:1883",
		Paths: []Path{{Direction: "out", State: "broken", Since: now, LastErr: "peer broker: " + cls + "\a"}},
		BridgeState: map[string]string{
			"peer $SYS/broker/connection/" + cls + "/state": "1",
			"peer $SYS/broker/connection/ok/state":          "1" + cls,
			"local $SYS/broker/connection/peer/state":       "1",
		},
		BridgeRefused: 9968,
	}}
	var buf bytes.Buffer
	if err := Render(&buf, Report{PID: 1, Started: now, Broker: b}, now); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.ContainsAny(out, "\x1b\a") {
		t.Errorf("control characters reach the terminal:\n%q", out)
	}
	for _, want := range []string{
		`, last error: "peer broker: \x1b[2J\a"`,
		`    bridge "peer $SYS/broker/connection/\x1b[2J/state" = 1`,
		`    bridge peer $SYS/broker/connection/ok/state = "1\x1b[2J"`,
		"    bridge local $SYS/broker/connection/peer/state = 1\n",
		"    bridge notifications refused 9968 (too many topics or too long)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	b.Probe = &Probe{Off: "off: no probe.peer configured (carpd no longer learns it from adverts)"}
	buf.Reset()
	if err := Render(&buf, Report{PID: 1, Started: now, Broker: b}, now); err != nil {
		t.Fatal(err)
	}
	if want := "  probe       off: no probe.peer configured (carpd no longer learns it from adverts)\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("output does not end with %q:\n%s", want, buf.String())
	}
}

// Between the quiet heartbeats of a settled pair the peer's last one is
// too old for the rules but due; past two periods it is stale.
func TestPeerFreshness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration
		fresh bool
		every time.Duration
		want  string
	}{
		{"fresh", 80 * time.Millisecond, true, 100 * time.Millisecond, "(fresh)"},
		{"quiet", 700 * time.Millisecond, false, time.Second, "(quiet, every 1s)"},
		{"stale", 2100 * time.Millisecond, false, time.Second, "(stale)"},
		{"old peer", 700 * time.Millisecond, false, 0, "(stale)"},
	} {
		var b strings.Builder
		p := &printer{w: &b, now: now}
		p.peer(&Peer{SplitBrain: "resolve", Node: "198.18.0.2", State: "MASTER", At: now.Add(-tc.age),
			Fresh: tc.fresh, Every: Duration(tc.every)})
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: %q, want it to contain %q", tc.name, b.String(), tc.want)
		}
	}
}

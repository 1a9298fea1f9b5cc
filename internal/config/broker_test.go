package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/mosquitto/mqconf"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// brokerFile is a one-router file with the given broker section (keys
// indented four spaces, starting on line 2).
func brokerFile(t *testing.T, keys string) string {
	t.Helper()
	conf := abs(t, "testdata/broker/bridge.conf")
	keys = strings.ReplaceAll(keys, "BRIDGE", conf)
	keys = strings.ReplaceAll(keys, "PLAIN", abs(t, "testdata/broker/plain.conf"))
	return "broker:\n" + keys + "routers:\n  - iface: eth0\n    vhid: 1\n    vips: [198.18.0.10]\n"
}

func TestBrokerValues(t *testing.T) {
	f, errs := loadText(t, brokerFile(t, "    command: [sh, -c, exec sleep 1]\n    config: BRIDGE\n"+
		"    ports: [1883, 8883]\n    health: {interval: 1s, timeout: 500ms, failures: 2}\n"+
		"    probe: {topic: home/carpd-probe, interval: 1s, deadline: 800ms, on_broken: restart}\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	want := &Broker{
		Command: []string{"sh", "-c", "exec sleep 1"}, Config: abs(t, "testdata/broker/bridge.conf"),
		Addr:      netip.MustParseAddrPort("198.18.0.3:1883"),
		OnPromote: "restart", OnDemote: "none", GARPBeforeReady: false,
		ReadyTimeout: DefaultReadyTimeout, StopTimeout: DefaultStopTimeout,
		BackoffBase: DefaultBackoffBase, BackoffCap: DefaultBackoffCap,
		Health: BrokerHealth{Interval: time.Second, Timeout: 500 * time.Millisecond, Failures: 2,
			Weight: DefaultHealthWeight, Topic: DefaultHealthTopic},
		NAT: "dnat", Ports: []uint16{1883, 8883},
		Probe: &BrokerProbe{Peer: netip.AddrPortFrom(netip.Addr{}, 1883), Topic: "home/carpd-probe",
			PeerTopic: "home/carpd-probe", Direction: mqconf.Both, Interval: time.Second,
			Deadline: 800 * time.Millisecond, BrokenAfter: DefaultBrokenAfter, OnBroken: "restart",
			RestartAfter: DefaultRestartAfter, HeartbeatTopic: DefaultHeartbeatTopic},
		HomeAssistant: HomeAssistant{DiscoveryPrefix: DefaultDiscoveryPrefix},
		Line:          2,
	}
	if diff := cmp.Diff(want, f.Broker, cmpopts.IgnoreFields(Broker{}, "Conf"),
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("broker (-want +got):\n%s", diff)
	}
	if f.Broker.Conf == nil || len(f.Broker.Conf.Bridges) != 1 {
		t.Errorf("broker config not read: %+v", f.Broker.Conf)
	}
	wantWarn := []string{f.Path + ":6: broker.probe: " + ProbeOff, "broker: on_promote: restart with persistence false"}
	if len(f.Warnings) != 2 || !strings.HasPrefix(f.Warnings[0], wantWarn[0]) || !strings.HasPrefix(f.Warnings[1], wantWarn[1]) {
		t.Errorf("warnings %q, want two starting %q", f.Warnings, wantWarn)
	}
}

// TestBrokerProbePeer checks where the probe's peer comes from: only the
// file (broker.probe.peer, or a router's single unicast peer of the
// broker's family); otherwise the probe is off with a warning at the
// probe's line, since carpd no longer learns the peer from adverts.
func TestBrokerProbePeer(t *testing.T) {
	const off = "broker.probe: " + ProbeOff + "; set broker.probe.peer"
	tests := []struct {
		name, broker, routers string
		peer, from            string
		warn                  string // prefix of the warning after FILE:
	}{
		{name: "configured", broker: "    probe: {peer: 198.18.0.4, topic: home/p}\n",
			routers: "    peers: [198.18.0.5]\n", peer: "198.18.0.4:1883", from: "broker.probe.peer"},
		{name: "single unicast peer", broker: "    probe: {topic: home/p}\n",
			routers: "    peers: [198.18.0.5]\n", peer: "198.18.0.5:1883", from: "peers of router carp1"},
		{name: "multicast", broker: "    probe:\n      topic: home/p\n", warn: "4: " + off},
		{name: "two unicast peers", broker: "    probe: {topic: home/p}\n",
			routers: "    peers: [198.18.0.5, 198.18.0.6]\n", warn: "4: " + off},
		{name: "peer of another family", broker: "    addr: 2001:2::3\n    probe: {topic: home/p}\n",
			routers: "    peers: [198.18.0.5]\n", warn: "5: " + off},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, errs := loadText(t, brokerFile(t, "    command: [sh]\n    nat: none\n"+tt.broker)+tt.routers)
			if errs != nil {
				t.Fatal(errs)
			}
			pr := f.Broker.Probe
			got := ""
			if pr.Peer.Addr().IsValid() {
				got = pr.Peer.String()
			}
			if got != tt.peer || pr.PeerFrom != tt.from {
				t.Errorf("peer %q from %q, want %q from %q", got, pr.PeerFrom, tt.peer, tt.from)
			}
			var warns []string
			for _, w := range f.Warnings {
				if strings.Contains(w, "broker.probe") {
					warns = append(warns, strings.TrimPrefix(w, f.Path+":"))
				}
			}
			switch {
			case tt.warn == "" && len(warns) != 0:
				t.Errorf("warnings %q, want none about the probe", warns)
			case tt.warn != "" && (len(warns) != 1 || !strings.HasPrefix(warns[0], tt.warn)):
				t.Errorf("warnings %q, want one starting %q", warns, tt.warn)
			}
		})
	}
}

func TestBrokerDefaultCommand(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err != nil {
		t.Skip("mosquitto not installed (Debian package mosquitto)")
	}
	t.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	f, errs := loadText(t, brokerFile(t, "    config: PLAIN\n    nat: none\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	conf := abs(t, "testdata/broker/plain.conf")
	if diff := cmp.Diff([]string{"mosquitto", "-c", conf}, f.Broker.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	// A wildcard listener leaves the address to the daemon: the
	// router's source address at the listener's port.
	if a := f.Broker.Addr; a.Addr().IsValid() || a.Port() != 1883 {
		t.Errorf("addr %v, want no address and port 1883", a)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "nat: none: clients reach the VIP only if") {
		t.Errorf("warnings %q, want the nat: none explanation", f.Warnings)
	}
}

func TestBrokerErrors(t *testing.T) {
	tests := []struct {
		name, keys string
		want       []string
	}{
		{"no command", "    addr: 198.18.0.3\n",
			[]string{"2: broker: command or config is required (the default command is mosquitto -c CONFIG)"}},
		{"missing program", "    command: [carpd-no-such-broker, -c, x]\n",
			[]string{"2: broker.command: carpd-no-such-broker: executable file not found in $PATH"}},
		{"port 0", "    command: [sh]\n    ports: [0]\n", []string{"3: broker.ports: 0 is out of range 1..65535"}},
		{"port too big", "    command: [sh]\n    ports: [1883, 70000]\n",
			[]string{"3: broker.ports: 70000 is out of range 1..65535"}},
		{"port twice", "    command: [sh]\n    ports: [1883, 1883]\n", []string{"3: broker.ports: 1883 is listed twice"}},
		{"no ports", "    command: [sh]\n    ports: []\n",
			[]string{"3: broker.ports: the list is empty; use nat: none for no DNAT"}},
		{"addr port", "    command: [sh]\n    addr: 198.18.0.3:99999\n",
			[]string{"3: broker.addr: port 99999 is out of range 1..65535"}},
		{"probe outside the bridge", "    command: [sh]\n    config: BRIDGE\n    probe: {topic: carpd/probe}\n",
			[]string{"4: broker.probe.topic: probe topics carpd/probe/+/+ are not carried out by any bridge topic (peer: home/# both)"}},
		{"probe one way", "    command: [sh]\n    config: BRIDGE\n    probe:\n      topic: $SYS/x\n",
			[]string{`5: broker.probe.topic: "$SYS/x" is not a plain topic (no wildcards, not under $)`}},
		{"probe deadline", "    command: [sh]\n    probe: {topic: home/p, interval: 1s, deadline: 1s}\n",
			[]string{"3: broker.probe.deadline: 1s must be below the interval 1s"}},
		{"probe restart_after", "    command: [sh]\n    probe: {topic: home/p, restart_after: 2}\n",
			[]string{"3: broker.probe.restart_after applies to on_broken: restart only"}},
		{"heartbeat wildcard", "    command: [sh]\n    probe: {topic: home/p, heartbeat_topic: hb/#}\n",
			[]string{`3: broker.probe.heartbeat_topic: "hb/#" is not a plain topic (no wildcards, not under $)`}},
		{"heartbeat inside the probe topic", "    command: [sh]\n    probe: {topic: home/p, heartbeat_topic: home/p/hb}\n",
			[]string{"3: broker.probe.heartbeat_topic: home/p/hb is inside the probe topic home/p, which the bridge carries"}},
		{"bad policy", "    command: [sh]\n    on_promote: reload\n",
			[]string{`3: broker.on_promote: "reload" is not restart or none`}},
		{"unknown key", "    command: [sh]\n    listen: 1883\n", []string{`3: broker: unknown key "listen"`}},
		{"password and passfile", "    command: [sh]\n    password: x\n    passfile: /nonexistent\n",
			[]string{"4: broker.password and broker.passfile exclude each other"}},
		{"health timeout", "    command: [sh]\n    health: {interval: 1s, timeout: 2s}\n",
			[]string{"3: broker.health: timeout 2s must be below interval 1s"}},
		{"hass not a mapping", "    command: [sh]\n    home_assistant: yes\n",
			[]string{"3: broker.home_assistant: expected a mapping, got a string"}},
		{"hass node id", "    command: [sh]\n    home_assistant:\n      enabled: true\n      node_id: node.1\n",
			[]string{`5: broker.home_assistant.node_id: "node.1" may hold only letters, digits, '_' and '-'`}},
		{"hass wildcard", "    command: [sh]\n    home_assistant: {enabled: true, discovery_prefix: ha/#}\n",
			[]string{"3: broker.home_assistant.discovery_prefix: topic name ha/# contains a wildcard"}},
		{"hass empty level", "    command: [sh]\n    home_assistant: {state_topic_prefix: carpd/}\n",
			[]string{`3: broker.home_assistant.state_topic_prefix: "carpd/" has an empty level`}},
		{"hass under $", "    command: [sh]\n    home_assistant: {state_topic_prefix: $SYS/carpd}\n",
			[]string{`3: broker.home_assistant.state_topic_prefix: "$SYS/carpd" is under $, which brokers reserve`}},
		{"hass enabled", "    command: [sh]\n    home_assistant: {enabled: 1}\n",
			[]string{"3: broker.home_assistant.enabled: expected true or false, got an integer"}},
		{"hass retain", "    command: [sh]\n    home_assistant: {retain: false}\n",
			[]string{`3: broker.home_assistant: unknown key "retain"`}},
		{"missing config", "    config: /nonexistent/mosquitto.conf\n",
			[]string{"2: broker.config: reading broker config: open /nonexistent/mosquitto.conf: no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, errs := loadText(t, brokerFile(t, tt.keys))
			if diff := cmp.Diff(tt.want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if len(f.Routers) != 0 || f.Broker != nil {
				t.Errorf("a refused file returned routers or a broker")
			}
		})
	}
}

func TestHomeAssistantDefaults(t *testing.T) {
	f, errs := loadText(t, brokerFile(t, "    command: [sh]\n    home_assistant: {enabled: true}\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	want := HomeAssistant{Enabled: true, DiscoveryPrefix: DefaultDiscoveryPrefix}
	if diff := cmp.Diff(want, f.Broker.HomeAssistant); diff != "" {
		t.Errorf("home_assistant (-want +got):\n%s", diff)
	}
	want.NodeID, want.StateTopicPrefix = "pi_4", "carpd/pi_4"
	if diff := cmp.Diff(want, f.Broker.HomeAssistant.Resolve("pi+4.home.arpa")); diff != "" {
		t.Errorf("resolved (-want +got):\n%s", diff)
	}
	f, errs = loadText(t, brokerFile(t, "    command: [sh]\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	if f.Broker.HomeAssistant.Enabled {
		t.Errorf("home_assistant enabled without the key")
	}
}

func TestNodeID(t *testing.T) {
	tests := []struct{ host, want string }{
		{"node1", "node1"},
		{"node1.example.org", "node1"},
		{"raspberry pi", "raspberry_pi"},
		{"Node_2-b", "Node_2-b"},
		{"", "carpd"},
		{".local", "carpd"},
		{strings.Repeat("a", 70), strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		if got := NodeID(tt.host); got != tt.want {
			t.Errorf("NodeID(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestBrokerNormalizedReloads(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "probe.pass")
	if err := os.WriteFile(pass, []byte("pr0be\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, errs := loadText(t, brokerFile(t, "    command: [sh]\n    addr: 198.18.0.3:1884\n    password: s3cret\n"+
		"    on_promote: none\n    ports: [1884]\n    probe: {peer: 198.18.0.4, topic: home/p, passfile: "+pass+"}\n"+
		"    home_assistant: {enabled: true, discovery_prefix: ha, state_topic_prefix: home/carpd/n1}\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	var b strings.Builder
	if err := f.WriteNormalized(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "s3cret") || strings.Contains(out, "pr0be") {
		t.Fatalf("normalized output shows a password:\n%s", out)
	}
	again, errs := loadText(t, out)
	if errs != nil {
		t.Fatalf("reloading:\n%s\n%v", out, errs)
	}
	if diff := cmp.Diff(f.Broker, again.Broker, cmpopts.IgnoreFields(Broker{}, "Password", "Line"),
		cmpopts.IgnoreFields(BrokerProbe{}, "Password"),
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("reloaded broker (-want +got):\n%s", diff)
	}
	if got := f.Broker.Probe.Peer; got != netip.MustParseAddrPort("198.18.0.4:1884") {
		t.Errorf("probe peer %v, want the broker's port", got)
	}
	if string(f.Broker.Probe.Password) != "pr0be" || string(f.Broker.Password) != "s3cret" {
		t.Errorf("passwords not read")
	}
}

// A heartbeat topic inside a bridged pattern is warned about, the default
// (outside home/#) is not.
func TestBrokerHeartbeatTopicBridged(t *testing.T) {
	for _, tc := range []struct {
		topic string
		warn  bool
	}{{"", false}, {"home/hb", true}, {"carpd/hb", false}} {
		keys := "    command: [sh]\n    config: BRIDGE\n    probe:\n      topic: home/carpd-probe\n      peer: 198.18.0.4\n"
		if tc.topic != "" {
			keys += "      heartbeat_topic: " + tc.topic + "\n"
		}
		f, errs := loadText(t, brokerFile(t, keys))
		if errs != nil {
			t.Fatal(errs)
		}
		got := false
		for _, w := range f.Warnings {
			got = got || strings.Contains(w, "heartbeat_topic: "+tc.topic+"/+ is carried by bridge peer")
		}
		if got != tc.warn {
			t.Errorf("heartbeat_topic %q: warned %v, want %v (warnings %q)", tc.topic, got, tc.warn, f.Warnings)
		}
	}
}

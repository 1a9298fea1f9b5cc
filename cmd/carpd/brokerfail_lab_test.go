//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/daemon"
	"github.com/carpd/carpd/internal/lab"
)

// TestLabBrokerCrash: SIGKILL of the master's broker is restarted with
// back-off and does not move the VIP; a crash loop (the broker's config
// broken, so every restart exits at once) demotes the master, the backup
// takes the VIP and the DNAT moves with it.
func TestLabBrokerCrash(t *testing.T) {
	t.Parallel()
	_, vip, nodes := newBrokerLab(t, brokerSetup{vrid: 60})
	n1, n2 := nodes[0], nodes[1]
	bs, err := n1.brokerStatus()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(bs.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	old := bs.PID
	n1.waitBroker(t, "restarted", 5*time.Second, func(s *daemon.BrokerStatus) bool {
		return s.Ready && s.PID != old && s.Restarts == 1
	})
	t.Logf("broker ready again %v after SIGKILL", time.Since(start).Round(time.Millisecond))
	if st, _ := n1.carpd.status(); st.State != "MASTER" {
		t.Errorf("n1 is %s after one broker crash, want MASTER", st.State)
	}

	// A broker that runs but does not answer (SIGSTOP) fails its health
	// check (3 round trips, 500 ms apart): n1 is demoted and steps down;
	// SIGCONT lifts the demotion and n1 preempts again.
	bs, _ = n1.brokerStatus()
	if err := syscall.Kill(bs.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	n2.carpd.waitState(t, "MASTER", 5*time.Second)
	t.Logf("n2 MASTER %v after n1's broker stopped answering", time.Since(start).Round(time.Millisecond))
	if bs, _ := n1.brokerStatus(); !slices.Contains(bs.Unhealthy, "health") {
		t.Errorf("n1 broker unhealthy %q, want health", bs.Unhealthy)
	}
	if err := syscall.Kill(bs.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	n1.carpd.waitState(t, "MASTER", 5*time.Second)
	if st, _ := n1.carpd.status(); st.Demotion.Total != 0 {
		t.Errorf("n1 demotion %+v after recovery, want none", st.Demotion)
	}

	// A config mosquitto refuses: every start exits 1 at once.
	writeFile(t, n1.conf, "no_such_option true\n")
	bs, _ = n1.brokerStatus()
	if err := syscall.Kill(bs.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	n2.carpd.waitState(t, "MASTER", 10*time.Second)
	t.Logf("n2 MASTER %v after the broker started crash-looping", time.Since(start).Round(time.Millisecond))
	n1.carpd.waitState(t, "BACKUP", 2*time.Second)
	bs, _ = n1.brokerStatus()
	if !bs.CrashLoop || !slices.Contains(bs.Unhealthy, "crash loop") || !strings.Contains(bs.LastError, "no_such_option") {
		t.Errorf("n1 broker status %+v, want a crash loop naming the bad option", bs)
	}
	st, _ := n1.carpd.status()
	if st.Demotion.Tracking != 255 {
		t.Errorf("n1 demotion %+v, want the broker's weight 255", st.Demotion)
	}
	lab.Wait(t, 2*time.Second, "DNAT moved", func() bool {
		return slices.Equal(dnatRules(t, n1.n), []string{}) && len(dnatRules(t, n2.n)) == 1
	})
	wantDNAT(t, n2.n, vip, true)
}

// TestLabBridgeProbe drops MQTT between the two nodes on the switch (the
// election, protocol 112, still passes): n1's probe reports the bridge
// broken within 3 probe intervals and restored after healing within 3
// more plus mosquitto's own reconnect delay (2.0.11 ignores
// restart_timeout). Both nodes are configured with their probe peer.
func TestLabBridgeProbe(t *testing.T) {
	t.Parallel()
	l, _, nodes := newBrokerLab(t, brokerSetup{vrid: 61})
	n1, n2 := nodes[0], nodes[1]
	probeOK := func(s *daemon.BrokerStatus) bool { return pathsAre(s, "ok") }
	n1.waitBroker(t, "probe ok", 15*time.Second, probeOK)
	n2.waitBroker(t, "probe ok", 15*time.Second, probeOK)
	if bs, _ := n2.brokerStatus(); bs.Probe.Peer != n1.static.String() {
		t.Errorf("n2 probes peer %q, want its configured %s", bs.Probe.Peer, n1.static)
	}

	ports := fmt.Sprintf("{%q, %q}", "p1", "p2")
	script := "table bridge carpdtest {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n" +
		"\t\tiifname " + ports + " oifname " + ports + " tcp dport 1883 drop\n" +
		"\t\tiifname " + ports + " oifname " + ports + " tcp sport 1883 drop\n\t}\n}\n"
	// The probe may have logged a broken bridge before mosquitto's
	// first bridge connection; count from here.
	brokenBefore := strings.Count(readLog(t, n1.carpd), `"msg":"replication broken"`)
	nftSwitch(t, l.Switch, script)
	start := time.Now()
	n1.waitBroker(t, "probe broken", 3*probeInterval+time.Second, func(s *daemon.BrokerStatus) bool { return pathsAre(s, "broken") })
	t.Logf("broken %v after cutting MQTT between the nodes (bound 3 intervals = %v)",
		time.Since(start).Round(time.Millisecond), 3*probeInterval)
	if st, _ := n1.carpd.status(); st.State != "MASTER" {
		t.Errorf("n1 is %s with the bridge cut, want MASTER (on_broken: report)", st.State)
	}
	// Stay cut past the bridge's keepalive timeout (1.5 × 5 s) so that
	// mosquitto drops the bridge and has to reconnect.
	time.Sleep(7500*time.Millisecond - time.Since(start) + time.Second)
	nftSwitch(t, l.Switch, "delete table bridge carpdtest\n")
	start = time.Now()
	const restoreBound = 3*probeInterval + 25*time.Second
	n1.waitBroker(t, "probe restored", restoreBound, probeOK)
	t.Logf("restored %v after healing (bound 3 intervals + mosquitto's reconnect = %v)",
		time.Since(start).Round(time.Millisecond), restoreBound)
	if c := strings.Count(readLog(t, n1.carpd), `"msg":"replication broken"`) - brokenBefore; c != 2 {
		t.Errorf("%d \"replication broken\" log lines for the cut, want 2 (once per direction)", c)
	}
}

// pathsAre reports whether the probe has every direction in state.
func pathsAre(s *daemon.BrokerStatus, state string) bool {
	if s.Probe == nil || len(s.Probe.Paths) != 2 {
		return false
	}
	for _, p := range s.Probe.Paths {
		if p.State != state {
			return false
		}
	}
	return true
}

// nftSwitch loads an nft script in the switch namespace.
func nftSwitch(t *testing.T, sw *lab.Node, script string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.nft")
	writeFile(t, path, script)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sw.Run(ctx, "nft", "-f", path); err != nil {
		t.Fatal(err)
	}
}

// TestLabBrokerBadInput: a broker command that does not exist, a probe
// topic outside every bridged pattern and a port out of range are refused
// with clear errors, by carpd check and by carpd run, which touches
// nothing: no VIP, no DNAT table, no process left.
func TestLabBrokerBadInput(t *testing.T) {
	t.Parallel()
	needBrokerLab(t)
	l := lab.New(t, 1, lab.WithoutIPv6())
	n1 := l.Nodes[0]
	vip := netip.MustParseAddr("198.18.0.62")
	dir := t.TempDir()
	conf := writeMosquittoConf(t, dir, netip.AddrPortFrom(n1.IP4.Addr(), 1883), "connection peer", "address 198.18.0.2:1883",
		`topic home/# both 2 "" ""`)
	tests := []struct{ name, broker, want string }{
		{"missing command", "  command: [carpd-no-such-broker, -c, " + conf + "]\n",
			"broker.command: carpd-no-such-broker: executable file not found in $PATH"},
		{"probe topic outside the bridge", "  config: " + conf + "\n  probe: {topic: carpd/probe, peer: 198.18.0.2}\n",
			"broker.probe.topic: probe topics carpd/probe/+/+ are not carried out by any bridge topic (peer: home/# both)"},
		{"port out of range", "  config: " + conf + "\n  ports: [1883, 65536]\n",
			"broker.ports: 65536 is out of range 1..65535"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
		writeFile(t, path, "broker:\n"+tt.broker+"routers:\n  - iface: eth0\n    vhid: 62\n    vips: [198.18.0.62]\n")
		_, errOut, err := runCheck(t, "-c", path)
		if err == nil || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: carpd check: %v\n%s\nwant %q", tt.name, err, errOut, tt.want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := n1.Run(ctx, "env", labMainEnv+"=1", os.Args[0], "run", "--state-dir", filepath.Join(dir, "state"), "-c", path)
		cancel()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: carpd run: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := n1.Run(ctx, "nft", "list", "tables"); err != nil || strings.Contains(string(out), "carpd") {
		t.Errorf("nft tables after refused runs: %s (%v)", out, err)
	}
	if n1.HasAddr(vip) {
		t.Errorf("a refused run added the VIP")
	}
}

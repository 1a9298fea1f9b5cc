//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

const (
	benchVIP   = "198.18.0.30"
	benchID    = 30
	mqttPort   = 1883
	bridgeLine = `topic home/# both 2 "" ""`
)

// node is one side of a pair under test, running.
type node struct {
	n *lab.Node
	// daemon is the process the faults signal: carpd, ucarp or the
	// keepalived parent.
	daemon *lab.Proc
	// masterEntries counts the node's entries into MASTER so far.
	masterEntries func() int
	// dir is the node's working directory (configs, scripts, logs).
	dir string
	// brokerPID returns the PID of the node's mosquitto, 0 if unknown.
	brokerPID func() int
}

// system is one setup under test at one timer setting.
type system struct {
	name  string // "carpd CARP", "ucarp", ...
	timer string // "1s" or "100ms", as in the report
	// interval is the advertisement interval.
	interval time.Duration
	// bound is the backup's master-down interval, the protocol's own
	// bound on a takeover after node death.
	bound time.Duration
	// skewTime is the backup's skew time (VRRP) or advskew/256 × advbase
	// (CARP): the wait after a bow-out.
	skewTime time.Duration
	start    func(t *testing.T, l *lab.Lab, n *lab.Node, r role) *node
}

// role is how a node of a pair starts: the preferred one (CARP advskew 0,
// VRRP priority 150) or not, and for CARP whether it preempts (carpd
// preempt: true, ucarp -P; VRRP preempts by default everywhere).
type role struct {
	master, preempt bool
}

// Timers of every pair: CARP master advskew 0 and backup advskew 50; VRRP
// master priority 150 and backup 100.
const (
	backupSkew = 50
	backupPrio = 100
)

func carpSystem(name string) system {
	return system{name: name, timer: "1s", interval: time.Second,
		bound:    3*time.Second + backupSkew*time.Second/256,
		skewTime: backupSkew * time.Second / 256}
}

func vrrpSystem(name string, interval time.Duration) system {
	skew := (256 - backupPrio) * interval / 256
	return system{name: name, timer: interval.String(), interval: interval, bound: 3*interval + skew, skewTime: skew}
}

// systems returns the setups measured; fast adds VRRPv3 at 100 ms for
// carpd and keepalived (ucarp has no stable sub-second setting).
func systems(carpd string, fast bool) []system {
	c := carpSystem("carpd CARP")
	c.start = startCarpd(carpd, "carp", time.Second)
	v := vrrpSystem("carpd VRRPv3", time.Second)
	v.start = startCarpd(carpd, "vrrp3", time.Second)
	u := carpSystem("ucarp")
	u.start = startUcarp
	k := vrrpSystem("keepalived VRRPv3", time.Second)
	k.start = startKeepalived(time.Second)
	out := []system{c, v, u, k}
	if fast {
		vf := vrrpSystem("carpd VRRPv3", 100*time.Millisecond)
		vf.start = startCarpd(carpd, "vrrp3", 100*time.Millisecond)
		kf := vrrpSystem("keepalived VRRPv3", 100*time.Millisecond)
		kf.start = startKeepalived(100 * time.Millisecond)
		out = append(out, vf, kf)
	}
	return out
}

// mosquittoConf writes n's broker configuration: listening on the static
// address only (clients reach it through the VIP's DNAT), the bridge on
// n1 only, as in the classic setup.
func mosquittoConf(t *testing.T, l *lab.Lab, n *lab.Node, dir string, daemonize bool) string {
	t.Helper()
	lines := []string{
		fmt.Sprintf("listener %d %s", mqttPort, n.IP4.Addr()),
		"allow_anonymous true", "persistence false", "user root",
		"log_type error", "log_type warning",
	}
	if daemonize {
		lines = append(lines, "log_dest file "+dir+"/mosquitto.log", "pid_file "+dir+"/mosquitto.pid")
	} else {
		lines = append(lines, "log_dest stderr")
	}
	if n == l.Nodes[0] {
		lines = append(lines, "connection peer", fmt.Sprintf("address %s:%d", l.Nodes[1].IP4.Addr(), mqttPort),
			"remote_clientid bridge-n1", "try_private true", "cleansession true", "keepalive_interval 5",
			"restart_timeout 1",
			bridgeLine)
	}
	path := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, path, strings.Join(lines, "\n")+"\n", 0o600)
	return path
}

// peerOf is the other node of a two-node lab.
func peerOf(l *lab.Lab, n *lab.Node) *lab.Node {
	if n == l.Nodes[0] {
		return l.Nodes[1]
	}
	return l.Nodes[0]
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func startCarpd(bin, proto string, interval time.Duration) func(*testing.T, *lab.Lab, *lab.Node, role) *node {
	return func(t *testing.T, l *lab.Lab, n *lab.Node, r role) *node {
		master := r.master
		t.Helper()
		dir := t.TempDir()
		conf := mosquittoConf(t, l, n, dir, false)
		router := fmt.Sprintf("    proto: vrrp3\n    vrid: %d\n    interval: %v\n    priority: %d\n",
			benchID, interval, pickInt(master, 150, backupPrio))
		if proto == "carp" {
			router = fmt.Sprintf("    proto: carp\n    vhid: %d\n    advbase: 1\n    advskew: %d\n    password: s3cret\n"+
				"    preempt: %v\n", benchID, pickInt(master, 0, backupSkew), r.preempt)
		}
		// The probe, with its peer configured as in the classic setup
		// (docs/config.md, probe.peer), also carries the heartbeat.
		peer := peerOf(l, n)
		yaml := fmt.Sprintf("broker:\n  config: %s\n  ready_timeout: 5s\n  stop_timeout: 2s\n"+
			"  backoff: {base: 100ms, cap: 400ms}\n  probe: {topic: home/carpd-probe, peer: '%s'}\n"+
			"routers:\n  - name: mqtt\n    iface: %s\n%s    vips: [%s]\n",
			conf, peer.IP4.Addr(), n.Iface, router, benchVIP)
		writeFile(t, dir+"/carpd.yaml", yaml, 0o600)
		p := n.Start(t, bin, "run", "--state-dir", dir+"/state", "--log-format", "json", "-c", dir+"/carpd.yaml")
		return &node{n: n, daemon: p, dir: dir, masterEntries: func() int {
			return lab.CountLines(p.Output(), `"msg":"transition"`, `"to":"MASTER"`)
		}, brokerPID: func() int {
			r := (&carpdOnly{proc: p, n: n, dir: dir, bin: bin}).report(t)
			if r.Broker == nil {
				return 0
			}
			return r.Broker.PID
		}}
	}
}

func pickInt(cond bool, yes, no int) int {
	if cond {
		return yes
	}
	return no
}

// classicScripts writes what a classic ucarp or keepalived setup runs on
// its transitions, into dir: mosq (restart the node's mosquitto), up
// (DNAT VIP:1883 to the static address, restart mosquitto) and down (undo
// the DNAT and restart mosquitto, only if up ran). With vip, up and down
// also add and remove the VIP (ucarp never touches addresses itself).
// Every up is logged to dir/calls.
func classicScripts(t *testing.T, n *lab.Node, dir string, vip bool) {
	t.Helper()
	mosq := lookPath(t, "mosquitto")
	writeFile(t, dir+"/mosq", fmt.Sprintf(`#!/bin/sh
# Restart the broker, as "systemctl restart mosquitto" does.
pid=%[1]s/mosquitto.pid
if [ -s "$pid" ]; then
	p=$(cat "$pid")
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done
	kill -9 "$p" 2>/dev/null
	rm -f "$pid"
fi
%[2]s -d -c %[1]s/mosquitto.conf
`, dir, mosq), 0o755)
	writeFile(t, dir+"/dnat.nft", fmt.Sprintf(`table ip classic {
	chain prerouting { type nat hook prerouting priority dstnat; ip daddr %[1]s tcp dport %[3]d dnat to %[2]s:%[3]d; }
	chain output { type nat hook output priority -100; ip daddr %[1]s tcp dport %[3]d dnat to %[2]s:%[3]d; }
}
`, benchVIP, n.IP4.Addr(), mqttPort), 0o644)
	addVIP, delVIP := "", ""
	if vip {
		addVIP = fmt.Sprintf("ip addr add %s/32 dev %s\n", benchVIP, n.Iface)
		delVIP = fmt.Sprintf("ip addr del %s/32 dev %s\n", benchVIP, n.Iface)
	}
	writeFile(t, dir+"/up", fmt.Sprintf("#!/bin/sh\necho up >> %[1]s/calls\n%[2]snft delete table ip classic 2>/dev/null\n"+
		"nft -f %[1]s/dnat.nft\n%[1]s/mosq\n", dir, addVIP), 0o755)
	writeFile(t, dir+"/down", fmt.Sprintf("#!/bin/sh\necho down >> %[1]s/calls\n%[2]s"+
		"nft delete table ip classic 2>/dev/null && %[1]s/mosq\nexit 0\n", dir, delVIP), 0o755)
	// The broker runs from the start on both nodes: the backup's is
	// the bridge's far end.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := n.Run(ctx, dir+"/mosq"); err != nil {
		t.Fatalf("starting mosquitto on %s: %v: %s", n.Name, err, out)
	}
}

// pidFile reads the classic broker's PID from its pid_file.
func pidFile(dir string) func() int {
	return func() int {
		b, _ := os.ReadFile(dir + "/mosquitto.pid")
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
}

// ups counts the up script's runs.
func ups(dir string) int {
	b, _ := os.ReadFile(dir + "/calls")
	return strings.Count(string(b), "up\n")
}

func startUcarp(t *testing.T, l *lab.Lab, n *lab.Node, r role) *node {
	t.Helper()
	master := r.master
	dir := t.TempDir()
	mosquittoConf(t, l, n, dir, true)
	classicScripts(t, n, dir, true)
	// -z runs the down script on SIGTERM; -n skips it at start-up.
	args := []string{"-i", n.Iface, "-s", n.IP4.Addr().String(), "-v", strconv.Itoa(benchID),
		"-p", "s3cret", "-a", benchVIP, "-b", "1", "-k", strconv.Itoa(pickInt(master, 0, backupSkew)),
		"-u", dir + "/up", "-d", dir + "/down", "-n", "-z"}
	if r.preempt {
		args = append(args, "-P")
	}
	p := n.Start(t, append([]string{lookPath(t, "ucarp")}, args...)...)
	return &node{n: n, daemon: p, dir: dir, masterEntries: func() int { return ups(dir) }, brokerPID: pidFile(dir)}
}

func startKeepalived(interval time.Duration) func(*testing.T, *lab.Lab, *lab.Node, role) *node {
	return func(t *testing.T, l *lab.Lab, n *lab.Node, r role) *node {
		master := r.master
		t.Helper()
		dir := t.TempDir()
		mosquittoConf(t, l, n, dir, true)
		classicScripts(t, n, dir, false)
		p := startKeepalivedProc(t, n, dir, benchID, pickInt(master, 150, backupPrio), interval, benchVIP, true)
		return &node{n: n, daemon: p, dir: dir, masterEntries: func() int { return ups(dir) },
			brokerPID: pidFile(dir)}
	}
}

func lookPath(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("%s is not installed", prog)
	}
	return p
}

// startKeepalivedProc writes dir/keepalived.conf, one VRRPv3 instance
// that adds vip itself, with dir's up and down scripts as notify scripts
// when notify is set, and starts keepalived on n in the foreground.
func startKeepalivedProc(t *testing.T, n *lab.Node, dir string, id, prio int, interval time.Duration, vip string,
	notify bool) *lab.Proc {
	t.Helper()
	scripts := ""
	if notify {
		scripts = fmt.Sprintf("  notify_master %[1]s/up\n  notify_backup %[1]s/down\n  notify_fault %[1]s/down\n"+
			"  notify_stop %[1]s/down\n", dir)
	}
	conf := fmt.Sprintf(`global_defs {
  router_id lab-%[1]s
  vrrp_version 3
  script_user root
  enable_script_security
}
vrrp_instance VI_1 {
  state BACKUP
  interface %[2]s
  virtual_router_id %[3]d
  priority %[4]d
  advert_int %[5]s
  virtual_ipaddress {
    %[6]s/32
  }
%[7]s}
`, n.Name, n.Iface, id, prio, strconv.FormatFloat(interval.Seconds(), 'f', -1, 64), vip, scripts)
	writeFile(t, dir+"/keepalived.conf", conf, 0o644)
	return n.Start(t, lookPath(t, "keepalived"), "--vrrp", "--dont-fork", "--log-console", "--log-detail",
		"--use-file", dir+"/keepalived.conf", "--pid", dir+"/k.pid", "--vrrp_pid", dir+"/v.pid",
		"--checkers_pid", dir+"/c.pid")
}

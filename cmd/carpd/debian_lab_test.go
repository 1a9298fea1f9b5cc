//go:build linux

package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/daemon"
	"github.com/carpd/carpd/internal/lab"
)

// debianMosquittoConf is the configuration file of Debian's mosquitto
// package, used as installed.
const debianMosquittoConf = "/etc/mosquitto/mosquitto.conf"

// TestLabDebianMosquitto runs carpd with a broker section that points at
// Debian's own /etc/mosquitto/mosquitto.conf, unchanged, with only a
// conf.d drop-in for the listener, as a user of the package would. That
// file has pid_file /run/mosquitto/mosquitto.pid, a directory only
// mosquitto.service makes, so without the package's tmpfiles.d entry the
// broker cannot start (and carpd check names the directory); with it, the
// broker is ready and a client reaches it on the VIP.
//
// carpd runs in a mount namespace of its own where /run and mosquitto's
// persistence and log directories are fresh tmpfs and conf.d is the test's
// drop-in, so nothing of the host's mosquitto is read or written.
func TestLabDebianMosquitto(t *testing.T) {
	needBrokerLab(t)
	stock, err := os.ReadFile(debianMosquittoConf)
	if err != nil || !strings.Contains(string(stock), "pid_file /run/mosquitto/mosquitto.pid") {
		t.Skipf("%s is not Debian's stock file (Debian package mosquitto): %v", debianMosquittoConf, err)
	}
	u, err := user.Lookup("mosquitto")
	if err != nil {
		t.Skipf("no mosquitto user (Debian package mosquitto): %v", err)
	}
	for _, p := range []string{"systemd-tmpfiles", "unshare"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not found (Debian packages systemd, util-linux): %v", p, err)
		}
	}
	tmpfiles, err := filepath.Abs("../../scripts/debian/carpd.tmpfiles")
	if err != nil {
		t.Fatal(err)
	}
	for _, withTmpfiles := range []bool{false, true} {
		name := "without tmpfiles"
		if withTmpfiles {
			name = "with tmpfiles"
		}
		t.Run(name, func(t *testing.T) {
			debianBroker(t, u, tmpfiles, withTmpfiles)
		})
	}
}

// debianBroker runs one node of TestLabDebianMosquitto.
func debianBroker(t *testing.T, u *user.User, tmpfiles string, withTmpfiles bool) {
	l := lab.New(t, 1, lab.WithoutIPv6())
	n := l.Nodes[0]
	vip := netip.MustParseAddr("198.18.0.41")
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(confd, "listener.conf"), "listener 1883\nallow_anonymous true\n")
	if err := os.Chmod(filepath.Join(confd, "listener.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(dir, "carpd.yaml")
	writeFile(t, yaml, `broker:
  config: `+debianMosquittoConf+`
  ready_timeout: 5s
  stop_timeout: 2s
  backoff: {base: 200ms, cap: 1s}
routers:
  - name: mqtt
    iface: `+n.Iface+`
    proto: vrrp3
    vrid: 41
    interval: 200ms
    priority: 150
    vips: [`+vip.String()+`]
    garp: {repeat: 2, interval: 100ms, delay: 0}
`)

	// carpd check names the missing /run/mosquitto before the tmpfiles
	// entry has run, and is quiet about it after.
	tmpfilesRun := ""
	if withTmpfiles {
		tmpfilesRun = "systemd-tmpfiles --create " + tmpfiles + "; "
	}
	check := exec.Command("ip", "netns", "exec", n.NS, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `set -e; mount -t tmpfs -o mode=0755 tmpfs /run; `+tmpfilesRun+`exec "$@"`, "sh",
		os.Args[0], "check", "-q", "-c", yaml)
	check.Env = append(os.Environ(), labMainEnv+"=1")
	out, _ := check.CombinedOutput()
	t.Logf("carpd check:\n%s", out)
	if got := strings.Contains(string(out), "/run/mosquitto does not exist"); got == withTmpfiles {
		t.Errorf("carpd check names the missing /run/mosquitto: %v, want %v", got, !withTmpfiles)
	}

	// A mount namespace: fresh /run, mosquitto's directories as the
	// package leaves them (owned by mosquitto), the drop-in as conf.d.
	owned := "mode=0755,uid=" + u.Uid + ",gid=" + u.Gid
	setup := "set -e; mount -t tmpfs -o mode=0755 tmpfs /run; " +
		"mount -t tmpfs -o " + owned + " tmpfs /var/lib/mosquitto; " +
		"mount -t tmpfs -o " + owned + " tmpfs /var/log/mosquitto; " +
		"mount --bind " + confd + " /etc/mosquitto/conf.d; "
	setup += tmpfilesRun
	state := stateDir(t)
	argv := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", setup + `exec "$@"`, "sh",
		"env", labMainEnv + "=1", os.Args[0], "run", "--state-dir", state, "--log-format", "json", "-c", yaml}
	c := &carpdProc{Proc: n.Start(t, argv...), dir: state, node: n}
	c.waitState(t, "MASTER", 10*time.Second)
	b := &brokerNode{n: n, carpd: c}

	if !withTmpfiles {
		lab.Wait(t, 10*time.Second, "mosquitto's pid file error in carpd's log", func() bool {
			return strings.Contains(readLog(t, c), "Unable to write pid file")
		})
		if bs, err := b.brokerStatus(); err != nil || bs.Ready {
			t.Errorf("broker ready without /run/mosquitto (status %+v, %v)", bs, err)
		}
		return
	}
	b.waitBroker(t, "ready", 10*time.Second, func(bs *daemon.BrokerStatus) bool { return bs.Ready })
	// The client reaches the broker on the VIP through carpd's DNAT.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := labDialer(l.Client)(ctx, netip.AddrPortFrom(vip, 1883).String())
	if err != nil {
		t.Fatalf("client to the VIP: %v", err)
	}
	conn.Close()
	cl := hassClient(l.Client, netip.AddrPortFrom(vip, 1883).String(), "debian-test", nil)
	if tok := cl.Connect(); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect on the VIP: %v", errOr(tok.Error(), "no answer"))
	}
	cl.Disconnect(100)
	if log := readLog(t, c); strings.Contains(log, "Unable to write pid file") {
		t.Errorf("mosquitto could not write its pid file with the tmpfiles entry; log:\n%s", log)
	}
}

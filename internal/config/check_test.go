package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// warnings loads text and returns the warnings that contain any of the
// words, the path of the file replaced by FILE.
func warnings(t *testing.T, l Loader, text string, words ...string) []string {
	t.Helper()
	f, path := writeConf(t, text)
	got, err := l.Load(f)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var out []string
	for _, w := range got.Warnings {
		for _, word := range words {
			if strings.Contains(w, word) {
				out = append(out, strings.ReplaceAll(w, path, "FILE"))
				break
			}
		}
	}
	return out
}

func TestVIPOutsideSubnets(t *testing.T) {
	text := router("    vhid: 1\n    vips: [198.18.0.2, 198.18.5.2]\n" +
		"  - iface: eth0\n    proto: vrrp3\n    vrid: 2\n    vips: ['2001:2::9', '2001:2:1::9']\n" +
		"  - iface: eth2\n    vhid: 3\n    vips: [198.18.2.2]\n" +
		"  - iface: eth9\n    vhid: 4\n    vips: [198.18.3.2]\n")
	want := []string{
		`FILE:4: vips: 198.18.5.2 is in none of eth0's subnets (198.18.0.0/24): clients on that segment will not reach it without a route`,
		`FILE:8: vips: 2001:2:1::9 is in none of eth0's subnets (2001:2::/64): clients on that segment will not reach it without a route`,
		`FILE:11: vips: 198.18.2.2: eth2 has no IPv4 subnet: clients on that segment will not reach it without a route`,
		// A missing interface stays a warning of its own, without the subnet one.
		`router carp4: interface eth9: route ip+net: no such network interface; carpd run will refuse to start without it`,
	}
	got := warnings(t, testLoader, text, "subnet", "interface eth9")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// writeConf writes text to c.yaml in a private directory (mode 0600) and
// returns the file's path twice: to load, and to replace in messages.
func writeConf(t *testing.T, text string) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, path
}

// TestStockMosquitto runs the broker checks on a fake tree: Debian's
// mosquitto.conf with its pid file in /run/mosquitto, mosquitto.service
// enabled and running, as after apt-get install mosquitto.
func TestStockMosquitto(t *testing.T) {
	root := t.TempDir()
	mk := func(path, text string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte("pid_file /run/mosquitto/mosquitto.pid\npersistence true\nlistener 1883\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := "broker:\n  command: [/bin/true]\n  config: " + conf + "\n" + router("    vhid: 1\n    vips: [198.18.0.2]\n")
	l := testLoader
	l.Root = root
	words := []string{"mosquitto.service", "pid_file"}

	// A bare system: /run/mosquitto is missing, nothing enabled or running.
	want := []string{`FILE:3: broker.config: ` + conf + ` has pid_file /run/mosquitto/mosquitto.pid but /run/mosquitto does not exist: ` +
		`mosquitto will exit ("Unable to write pid file"); create it owned by mosquitto at every boot ` +
		`(the carpd package's tmpfiles.d entry does: systemd-tmpfiles --create carpd.conf; ` +
		`or a line d /run/mosquitto 0740 mosquitto root -) or remove pid_file`}
	if diff := cmp.Diff(want, warnings(t, l, text, words...)); diff != "" {
		t.Errorf("bare system: warnings (-want +got):\n%s", diff)
	}

	// The package installed and started: the directory exists, the unit
	// is enabled and its mosquitto runs in its cgroup.
	mk("etc/systemd/system/multi-user.target.wants/mosquitto.service", "")
	mk("run/mosquitto/mosquitto.pid", "4242\n")
	mk("proc/4242/cgroup", "0::/system.slice/mosquitto.service\n")
	want = []string{
		`broker: mosquitto.service is enabled (/etc/systemd/system/multi-user.target.wants): at boot it starts a second mosquitto ` +
			`that holds port 1883 and fights carpd's broker; run systemctl disable --now mosquitto`,
		`broker: mosquitto.service is running (pid 4242): it holds port 1883 and fights carpd's broker; run systemctl disable --now mosquitto`,
	}
	if diff := cmp.Diff(want, warnings(t, l, text, words...)); diff != "" {
		t.Errorf("package running: warnings (-want +got):\n%s", diff)
	}

	// carpd's own broker writes the same pid file from carpd's cgroup.
	if err := os.Remove(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/mosquitto.service")); err != nil {
		t.Fatal(err)
	}
	mk("proc/4242/cgroup", "0::/system.slice/carpd.service\n")
	if got := warnings(t, l, text, words...); len(got) != 0 {
		t.Errorf("carpd's own broker: warnings %q, want none", got)
	}
}

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

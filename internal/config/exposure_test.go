package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExposure lists the routers without authentication and a metrics
// address beyond loopback, each with its file and line.
func TestExposure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carpd.yaml")
	yaml := `metrics_listen: 198.18.0.1:9112
routers:
  - {name: open, iface: eth0, vhid: 1, vips: [198.18.0.11]}
  - {name: closed, iface: eth0, vhid: 2, password: s3cret, vips: [198.18.0.12]}
  - {name: v2open, iface: eth0, proto: vrrp2, vrid: 3, vips: [198.18.0.13]}
  - {name: v2closed, iface: eth0, proto: vrrp2, vrid: 4, password: pw, vips: [198.18.0.14]}
  - {name: v3, iface: eth0, proto: vrrp3, vrid: 5, vips: [198.18.0.15]}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := testLoader.FromArgs([]string{"-c", path})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"router open (" + path + ":3): CARP without a password: anyone on the segment can take the VIP",
		"router v2open (" + path + ":5): VRRPv2 without a password: anyone on the segment can take the VIP",
		"router v3 (" + path + ":7): VRRPv3 has no authentication: restrict sources with accept_from or peers",
		path + ":1: metrics_listen 198.18.0.1:9112 is not a loopback address: anyone who reaches it reads the metrics and can hold connections; bind 127.0.0.1 or [::1], or firewall the port",
	}
	if diff := cmp.Diff(want, f.Exposure()); diff != "" {
		t.Errorf("exposure (-want +got):\n%s", diff)
	}
}

func TestLoopbackListen(t *testing.T) {
	for s, want := range map[string]bool{
		"127.0.0.1:9112": true, "[::1]:9112": true, "localhost:9112": true, "127.1.2.3:1": true,
		":9112": false, "0.0.0.0:9112": false, "[::]:9112": false, "198.18.0.1:9112": false, "host.example:9112": false,
	} {
		if got := loopbackListen(s); got != want {
			t.Errorf("loopbackListen(%q) = %v, want %v", s, got, want)
		}
	}
}

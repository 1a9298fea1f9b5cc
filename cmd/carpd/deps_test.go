package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoGopacketLayers keeps gopacket/layers out of the daemon binary.
// Linking it costs RSS, not just size: its init fills EthernetTypeMetadata
// and PPPTypeMetadata ([65536]EnumMetadata, 2.6 MB each) and four 512 KB
// tables, 6.7 MiB of anonymous memory in every process, which put carpd at
// 22 MiB against a 15 MiB target. pcapgo imports it. Tests may use both;
// decode with carp's codecs, read captures with internal/pcapfile, and let
// programs that want gopacket.NewPacket import carp/carplayers.
func TestNoGopacketLayers(t *testing.T) {
	for _, dep := range daemonDeps(t, "github.com/carpd/carpd/carp") {
		if dep == "github.com/google/gopacket/layers" || dep == "github.com/google/gopacket/pcapgo" ||
			dep == "github.com/carpd/carpd/carp/carplayers" {
			t.Errorf("cmd/carpd links %s: its init costs 6.7 MiB of RSS in the daemon (gopacket/layers tables); see carp/carplayers", dep)
		}
	}
}

// TestCarpNoGopacket keeps gopacket out of package carp altogether: carp
// holds plain codecs (UnmarshalBinary, AppendBinary) and registers nothing
// at init; the gopacket layers wrapping them live in carp/carplayers.
func TestCarpNoGopacket(t *testing.T) {
	const carpPkg = "github.com/carpd/carpd/carp"
	for _, dep := range goListDeps(t, carpPkg, carpPkg) {
		if strings.HasPrefix(dep, "github.com/google/gopacket") {
			t.Errorf("package carp imports %s; gopacket glue belongs in carp/carplayers", dep)
		}
	}
}

// TestNoPrometheusClient keeps prometheus/client_golang and protobuf out
// of the daemon binary. Their init registers the default Go and process
// collectors and protobuf descriptors: with one CARP router and a
// supervised mosquitto, carpd took 15.3 MiB RSS with them against 13.2
// MiB without (1.8 MiB of it file-backed pages touched at start), and the
// binary 18.1 MB against 14.9, metrics on or off. internal/metrics writes the exposition format itself; tests may
// still parse it with expfmt.
func TestNoPrometheusClient(t *testing.T) {
	for _, dep := range daemonDeps(t, "github.com/carpd/carpd/internal/metrics") {
		if strings.HasPrefix(dep, "github.com/prometheus/") || strings.HasPrefix(dep, "google.golang.org/protobuf") {
			t.Errorf("cmd/carpd links %s: its init costs RSS in every daemon; see internal/metrics", dep)
		}
	}
}

// daemonDeps lists the packages cmd/carpd links (go list -deps), failing
// unless mustHave is among them: proof that the list is the daemon's, not
// an empty or wrong one. Without the go command the test is skipped.
func daemonDeps(t *testing.T, mustHave string) []string {
	t.Helper()
	return goListDeps(t, ".", mustHave)
}

// goListDeps lists the packages pkg links, as daemonDeps does for the
// daemon.
func goListDeps(t *testing.T, pkg, mustHave string) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goCmd, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, mustHave) {
		t.Fatalf("go list -deps %s does not list %s: %q", pkg, mustHave, deps)
	}
	return deps
}

// TestControlNoDaemon keeps internal/control free of internal/daemon:
// `carpd status` and `carpd demote` speak the control protocol and must
// not need the daemon to. (Today the import would be a cycle, which go
// list reports and the test fails on too.)
func TestControlNoDaemon(t *testing.T) {
	const ctl = "github.com/carpd/carpd/internal/control"
	for _, dep := range goListDeps(t, ctl, "github.com/carpd/carpd/internal/status") {
		if dep == "github.com/carpd/carpd/internal/daemon" {
			t.Errorf("internal/control imports %s; the daemon uses the control package, not the other way", dep)
		}
	}
}

// TestDaemonNoBroker keeps the broker behind internal/daemon's Broker
// interface: the daemon and everything it imports, internal/config
// included, link none of the supervisor, nftables, MQTT client and Home
// Assistant code; cmd/carpd wires internal/broker in. internal/config
// reads mosquitto.conf and checks topics with mosquitto/mqconf, which
// knows Mosquitto's configuration but no MQTT client.
func TestDaemonNoBroker(t *testing.T) {
	const daemonPkg = "github.com/carpd/carpd/internal/daemon"
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", daemonPkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", daemonPkg, err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	if _, ok := imports[daemonPkg]; !ok {
		t.Fatalf("go list -deps %s does not list it: %q", daemonPkg, out)
	}
	banned := []string{"github.com/carpd/carpd/supervisor", "github.com/carpd/carpd/nat",
		"github.com/carpd/carpd/internal/hass", "github.com/carpd/carpd/mosquitto",
		"github.com/carpd/carpd/internal/broker", "github.com/eclipse/paho.mqtt.golang"}
	// allowed are subpackages of a banned one that hold no client code.
	allowed := []string{"github.com/carpd/carpd/mosquitto/mqconf"}
	// The walk records who imports each package, for the error message.
	seen := map[string]string{daemonPkg: ""}
	queue := []string{daemonPkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, dep := range imports[p] {
			if _, ok := seen[dep]; ok {
				continue
			}
			seen[dep] = p
			queue = append(queue, dep)
		}
	}
	if _, ok := seen["github.com/carpd/carpd/internal/config"]; !ok {
		t.Fatalf("the walk from %s does not reach internal/config: %q", daemonPkg, out)
	}
	for dep, by := range seen {
		if slices.Contains(allowed, dep) {
			continue
		}
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("internal/daemon links %s (imported by %s); the broker belongs behind daemon.Broker", dep, by)
			}
		}
	}
}

// TestDesignPackageMap keeps docs/design.md's package map true to the
// tree: every package of the module is named there (the scripts under
// `scripts/`), and nothing named there as a package is gone.
func TestDesignPackageMap(t *testing.T) {
	const mod = "github.com/carpd/carpd/"
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goCmd, "list", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	doc, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	_, mapText, _ := strings.Cut(string(doc), "## 2. Package map")
	mapText, _, _ = strings.Cut(mapText, "\n## 3.")
	pkgs := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(p, mod)
		pkgs[rel] = true
		if strings.HasPrefix(rel, "scripts/") {
			continue
		}
		if !strings.Contains(mapText, "`"+rel+"`") {
			t.Errorf("docs/design.md's package map does not name %s", rel)
		}
	}
	// First column of each table row: the packages the map names.
	for _, line := range strings.Split(mapText, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			name = strings.Trim(strings.TrimSpace(name), "`")
			if name != "" && !strings.HasSuffix(name, "/") && !pkgs[name] {
				t.Errorf("docs/design.md's package map names %s, which go list does not know", name)
			}
		}
	}
}

// TestNoManGenerator keeps cobra/doc and go-md2man out of the daemon
// binary: the pages are written by the genman build (genman.go) at
// packaging time, and linking the generator made carpd 0.45 MB larger and
// its RSS 0.3 MiB higher (internal/manpage).
func TestNoManGenerator(t *testing.T) {
	for _, dep := range daemonDeps(t, "github.com/spf13/cobra") {
		if dep == "github.com/spf13/cobra/doc" || strings.HasPrefix(dep, "github.com/cpuguy83/go-md2man") ||
			dep == "github.com/carpd/carpd/internal/manpage" {
			t.Errorf("cmd/carpd links %s: the man page generator belongs in the genman build only", dep)
		}
	}
}

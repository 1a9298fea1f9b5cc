package main

import (
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
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps .: %v", err)
	}
	deps := strings.Fields(string(out))
	// Proof that the list is the daemon's, not an empty or wrong one.
	if !slices.Contains(deps, "github.com/carpd/carpd/carp") {
		t.Fatalf("go list -deps . does not list package carp: %q", deps)
	}
	for _, bad := range []string{"github.com/google/gopacket/layers", "github.com/google/gopacket/pcapgo", "github.com/carpd/carpd/carp/carplayers"} {
		if slices.Contains(deps, bad) {
			t.Errorf("cmd/carpd links %s: its init costs 6.7 MiB of RSS in the daemon (gopacket/layers tables); see carp/carplayers", bad)
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
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps .: %v", err)
	}
	deps := strings.Fields(string(out))
	// Proof that the list is the daemon's, not an empty or wrong one.
	if !slices.Contains(deps, "github.com/carpd/carpd/internal/metrics") {
		t.Fatalf("go list -deps . does not list package internal/metrics: %q", deps)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/prometheus/") || strings.HasPrefix(dep, "google.golang.org/protobuf") {
			t.Errorf("cmd/carpd links %s: its init costs RSS in every daemon; see internal/metrics", dep)
		}
	}
}

//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLabDemo runs scripts/demo.sh, the README's first command, end to end:
// it must exit 0, print the new master and the client's outage, and leave
// no namespace or temp directory behind.
func TestLabDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if testing.Short() {
		t.Skip("builds carpd and runs a failover (~15 s)")
	}
	needBrokerLab(t)
	if _, err := exec.LookPath("go"); err != nil {
		if _, err := os.Stat("/usr/local/go/bin/go"); err != nil {
			t.Skip("no go to build with")
		}
	}
	script, err := filepath.Abs("../../scripts/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	// SIGTERM lets the script's trap remove the lab.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("scripts/demo.sh took %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Errorf("scripts/demo.sh: %v, want exit 0", err)
	}
	text := out.String()
	for _, re := range []string{
		`(?m)^  \+[0-9.]+s n1 is MASTER `,
		`(?m)^  \+[0-9.]+s n2 is MASTER: the VIP moved `,
		`(?m)^Failover OK: n1 -> n2, the VIP moved [0-9]+ ms after the kill\.$`,
		`(?m)^Client: outage [0-9]+ ms \(longest gap, ended \+[0-9.]+s\), sent [0-9]+, received [0-9]+, lost [0-9]+, duplicates [0-9]+$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output does not match %s", re)
		}
	}
	// netns.sh names everything carpd-<the script's PID>-<random>.
	prefix := fmt.Sprintf("carpd-%d-", cmd.Process.Pid)
	ns, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ns), prefix) {
		t.Errorf("namespaces %s* left behind:\n%s", prefix, ns)
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*")); len(left) > 0 {
		t.Errorf("temp directories left behind: %v", left)
	}
	if m := regexp.MustCompile(`outage ([0-9]+) ms`).FindStringSubmatch(text); m != nil {
		if ms, _ := strconv.Atoi(m[1]); ms <= 0 || ms > 30000 {
			t.Errorf("client outage %d ms, want 1..30000", ms)
		}
	}
}

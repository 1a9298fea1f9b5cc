//go:build linux

package control

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// peerClientEnv makes the test binary a control client (see
// TestControlPeerCredHelper).
const peerClientEnv = "CARPD_TEST_PEER_CLIENT"

// TestControlPeerCredHelper is the client that TestControlPeerCred runs
// as another user; it does nothing in a normal run.
func TestControlPeerCredHelper(t *testing.T) {
	dir := os.Getenv(peerClientEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	_, err := Call(context.Background(), dir, Request{Op: "status"})
	if err == nil {
		t.Fatal("status answered")
	}
	t.Log("control error:", err)
}

// TestControlPeerCred connects for real from uid 65534 and is refused by
// SO_PEERCRED. The client gets CAP_DAC_OVERRIDE, so the 0700 directory
// and the 0600 socket let it through: only the uid check stands.
func TestControlPeerCred(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as uid 65534")
	}
	srv, dir := serve(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// The build directory is root's 0700 and exec runs before the
	// ambient capability applies, so the client runs from a copy.
	// (t.TempDir's parent is 0700 too.)
	tmp, err := os.MkdirTemp("", "carpd-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "control.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestControlPeerCredHelper$", "-test.v")
	cmd.Env = append(os.Environ(), peerClientEnv+"="+dir)
	const capDACOverride = 1
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
		AmbientCaps: []uintptr{capDACOverride},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "control error: permission denied: uid 65534 may not use") {
		t.Errorf("client output lacks the refusal:\n%s", out)
	}
	if got := srv.Refused(); got != 1 {
		t.Errorf("refused count %d, want 1", got)
	}
	if got := srv.handled.Load(); got != 0 {
		t.Errorf("%d requests handled, want none", got)
	}
}

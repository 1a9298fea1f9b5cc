//go:build linux

package daemon

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestControlRefusesOtherUID: a control connection from a uid that is
// neither root nor carpd's is answered with an error, counted and logged,
// and its demote is not done.
func TestControlRefusesOtherUID(t *testing.T) {
	const other = 65534
	if os.Geteuid() == other {
		t.Skip("the test plays uid 65534, which is this process's")
	}
	n := newNode(t, &segment{}, "198.18.0.1", vrrpRouter("vr", 7, 100, "198.18.0.100/32"))
	n.d.peerUID = func(net.Conn) (int, error) { return other, nil }
	n.start()
	n.waitState("vr", "MASTER", 3*time.Second)
	_, err := Call(t.Context(), n.dir, Request{Op: "demote", Router: "vr", N: 50})
	if err == nil || !strings.Contains(err.Error(), "permission denied: uid 65534 may not use carpd's control socket") {
		t.Fatalf("demote as uid %d: error %v, want permission denied", other, err)
	}
	if p := *n.router("vr").Advertised.Priority; p != 100 {
		t.Errorf("priority %d after a refused demote, want 100", p)
	}
	if got := n.d.ctlRefused.Load(); got != 1 {
		t.Errorf("refused count %d, want 1", got)
	}
	if !strings.Contains(n.logs.String(), `"msg":"refusing control connection"`) {
		t.Errorf("refusal not logged:\n%s", n.logs.String())
	}

	n.d.peerUID = func(net.Conn) (int, error) { return os.Geteuid(), nil }
	if _, err := Call(t.Context(), n.dir, Request{Op: "demote", Router: "vr", N: 1}); err != nil {
		t.Errorf("demote as carpd's own uid: %v", err)
	}
}

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
	n := newNode(t, &segment{}, "198.18.0.1", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	n.waitState("vr", "MASTER", 3*time.Second)
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
	bin := filepath.Join(tmp, "daemon.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestControlPeerCredHelper$", "-test.v")
	cmd.Env = append(os.Environ(), peerClientEnv+"="+n.dir)
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
	if got := n.d.ctlRefused.Load(); got != 1 {
		t.Errorf("refused count %d, want 1", got)
	}
}

//go:build linux

package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// nobodyID is the uid and gid the unprivileged carpd runs as.
const nobodyID = 65534

// unprivCaps is all that carpd without a broker needs: raw and packet
// sockets, and netlink for the VIPs.
const unprivCaps = "-all,+net_raw,+net_admin"

// setprivNobody runs argv as nobody with no groups and only unprivCaps:
// inheritable and ambient, so they survive the exec into carpd, and the
// bounding set too, so nothing else can be regained.
func setprivNobody(argv ...string) []string {
	id := strconv.Itoa(nobodyID)
	return append([]string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups",
		"--inh-caps=" + unprivCaps, "--ambient-caps=" + unprivCaps, "--bounding-set=" + unprivCaps}, argv...)
}

// TestLabUnprivileged runs carpd without a broker as nobody with only
// CAP_NET_RAW and CAP_NET_ADMIN, as docs/daemon.md "Running without root"
// describes: it must elect itself MASTER, add the VIP, and answer status
// on its control socket, to root and to its own user.
func TestLabUnprivileged(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	t.Parallel()
	l := lab.New(t, 1, lab.WithoutIPv6())
	n1 := l.Nodes[0]
	// t.TempDir lies under a 0700 directory nobody cannot enter.
	dir, err := os.MkdirTemp("", "carpd-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "carpd")
	copyExecutable(t, os.Args[0], bin)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}

	vip := "198.18.0.40"
	argv := setprivNobody(append([]string{"env", labMainEnv + "=1", bin, "run", "--state-dir", state,
		"--log-format", "json", "--log-level", "debug"}, carpArgs(n1, "40", "0", "s3cret", vip)...)...)
	c := &carpdProc{Proc: n1.Start(t, argv...), dir: state, node: n1}
	c.waitState(t, "MASTER", 10*time.Second)
	if !n1.HasAddr(netip.MustParseAddr(vip)) {
		t.Errorf("MASTER without the VIP %s", vip)
	}

	uid, caps := procStatus(t, c.PID)
	if uid != "65534\t65534\t65534\t65534" || caps != "0000000000003000" {
		t.Errorf("carpd runs with Uid %q, CapEff %q; want nobody's and only CAP_NET_ADMIN|CAP_NET_RAW (0x3000)", uid, caps)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := setprivNobody("env", labMainEnv+"=1", bin, "status", "--state-dir", state)
	out, err := exec.CommandContext(ctx, st[0], st[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "MASTER") {
		t.Errorf("carpd status as nobody: %v\n%s", err, out)
	}
}

// copyExecutable copies the file at src to dst with mode 0755.
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// procStatus returns the Uid and CapEff fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) (uid, capEff string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "Uid":
			uid = strings.TrimSpace(v)
		case "CapEff":
			capEff = strings.TrimSpace(v)
		}
	}
	return uid, capEff
}

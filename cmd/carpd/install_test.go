package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// installScript is scripts/install.sh, relative to this package.
var installScript = filepath.Join("..", "..", "scripts", "install.sh")

// buildCarpd builds this command once per test into dir.
func buildCarpd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "carpd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building carpd: %v\n%s", err, out)
	}
	return bin
}

// runInstall runs install.sh with env added to ours.
func runInstall(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", installScript)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tree maps every file under root to its mode and content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		v := info.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		m[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInstall stages an installation with DESTDIR twice: the second run
// changes nothing and says so, an existing carpd.yaml and the mode of an
// existing configuration directory are left alone, the paths follow
// PREFIX and SYSCONFDIR, the installed binary runs and accepts the
// example configuration, and systemd accepts the unit.
func TestInstall(t *testing.T) {
	tmp := t.TempDir()
	bin := buildCarpd(t, tmp)
	dest := filepath.Join(tmp, "root")
	env := []string{"DESTDIR=" + dest, "CARPD_BIN=" + bin, "PREFIX=/opt/carpd", "SYSCONFDIR=/etc/opt"}

	out, err := runInstall(t, env...)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if n := strings.Count(out, "install.sh: installed "); n != 3 {
		t.Errorf("first run installed %d files, want 3:\n%s", n, out)
	}
	first := tree(t, dest)
	want := map[string]string{
		"opt/carpd/sbin/carpd":             "-rwxr-xr-x",
		"etc/systemd/system/carpd.service": "-rw-r--r--",
		"etc/opt/carpd/carpd.yaml.example": "-rw-r--r--",
	}
	got := map[string]string{}
	for p, v := range first {
		if mode, _, _ := strings.Cut(v, " "); !strings.HasPrefix(mode, "d") {
			got[p] = mode
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installed files (-want +got):\n%s", diff)
	}
	_, unit, _ := strings.Cut(first["etc/systemd/system/carpd.service"], " ")
	for _, line := range []string{"ExecStart=/opt/carpd/sbin/carpd run -c /etc/opt/carpd/carpd.yaml", "Type=notify",
		"WatchdogSec=", "ExecReload=/opt/carpd/sbin/carpd check --quiet -c /etc/opt/carpd/carpd.yaml\nExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, "\n"+line) {
			t.Errorf("unit lacks %q", line)
		}
	}

	mine := filepath.Join(dest, "etc/opt/carpd/carpd.yaml")
	if err := os.WriteFile(mine, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The first run made the directory 0755; the operator tightens it,
	// and the second run must leave that alone.
	confDir := filepath.Join(dest, "etc/opt/carpd")
	if mode := first["etc/opt/carpd"]; mode != "drwxr-xr-x" {
		t.Errorf("new configuration directory: %s, want drwxr-xr-x", mode)
	}
	if err := os.Chmod(confDir, 0o750); err != nil {
		t.Fatal(err)
	}
	first["etc/opt/carpd"] = "drwxr-x---"
	out, err = runInstall(t, env...)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if n := strings.Count(out, "install.sh: unchanged "); n != 3 || strings.Contains(out, "installed ") {
		t.Errorf("second run, want 3 unchanged and nothing installed:\n%s", out)
	}
	second := tree(t, dest)
	delete(second, "etc/opt/carpd/carpd.yaml")
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second run changed the tree (-first +second):\n%s", diff)
	}
	if b, _ := os.ReadFile(mine); string(b) != "mine\n" {
		t.Errorf("carpd.yaml overwritten: %q", b)
	}

	staged := filepath.Join(dest, "opt/carpd/sbin/carpd")
	if out, err := exec.Command(staged, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "carpd ") {
		t.Errorf("installed carpd version: %v %q", err, out)
	}
	example := filepath.Join(dest, "etc/opt/carpd/carpd.yaml.example")
	if out, err := exec.Command(staged, "check", "-c", example).CombinedOutput(); err != nil {
		t.Errorf("carpd check of the example: %v\n%s", err, out)
	}
	verifyUnit(t, unit, "/opt/carpd/sbin/carpd", staged)
}

// verifyUnit runs systemd-analyze verify on unit with ExecStart and
// ExecReload pointing at the staged binary instead of bin, the path the
// unit names, which does not exist on this machine.
func verifyUnit(t *testing.T, unit, bin, staged string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	dir := t.TempDir()
	unit = strings.ReplaceAll(unit, "="+bin+" ", "="+staged+" ")
	path := filepath.Join(dir, "carpd.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(analyze, "verify", path)
	cmd.Stderr = &stderr
	err = cmd.Run()
	t.Logf("systemd-analyze verify %s: %v, output %q", path, err, stderr.String())
	if err != nil || stderr.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
	// The sandbox's score, in tenths of `systemd-analyze security`'s
	// exposure level: 2.8 with systemd 252; 4.4 before the system call
	// filter, MemoryDenyWriteExecute and PrivateMounts.
	const maxExposure = "30"
	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold="+maxExposure, path).CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Errorf("systemd-analyze security: %v, exposure over %s/10: %s", err, maxExposure, lines[len(lines)-1])
	}
}

// TestInstallRefusesNonRoot runs install.sh as nobody without DESTDIR: it
// must refuse, say why, and touch nothing.
func TestInstallRefusesNonRoot(t *testing.T) {
	if os.Getuid() != 0 {
		out, err := runInstall(t)
		checkRefusal(t, out, err)
		return
	}
	script, err := filepath.Abs(installScript)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "Permission denied") {
		t.Skipf("nobody cannot read %s here: %s", script, out)
	}
	checkRefusal(t, string(out), err)
}

func checkRefusal(t *testing.T, out string, err error) {
	t.Helper()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want status 1", err)
	}
	if !strings.Contains(out, "needs root") || !strings.Contains(out, "DESTDIR") || strings.Contains(out, "building") {
		t.Errorf("output %q: want a refusal naming root and DESTDIR, before building", out)
	}
}

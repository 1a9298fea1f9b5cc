//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// packageScript is scripts/package.sh, relative to this package.
var packageScript = filepath.Join("..", "..", "scripts", "package.sh")

// TestPackageVersion runs package.sh --print-version in a scratch
// repository: the commit date in UTC and the short commit when HEAD has
// no tag, the tag without its "v" (a pre-release's "-" as "~") when it
// has one, and a refusal of a tag dpkg would refuse.
func TestPackageVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found: ", err)
	}
	script, err := os.ReadFile(packageScript)
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "scripts", "package.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(date string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE="+date, "GIT_AUTHOR_DATE="+date)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	version := func() (string, error) {
		out, err := exec.Command("sh", filepath.Join(repo, "scripts", "package.sh"), "--print-version").CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	git("", "init", "-q")
	git("", "add", ".")
	// 23:30 at UTC-5 is the next day in UTC.
	late := "2024-01-02T23:30:00-05:00"
	git(late, "commit", "-q", "-m", "one")
	commit := git("", "rev-parse", "HEAD")
	if got, err := version(); err != nil || got != "0.0.0+git20240103."+commit[:7] {
		t.Errorf("untagged: %q, %v; want 0.0.0+git20240103.%s", got, err, commit[:7])
	}
	git("", "tag", "v1.2.3-rc1")
	if got, err := version(); err != nil || got != "1.2.3~rc1" {
		t.Errorf("tag v1.2.3-rc1: %q, %v; want 1.2.3~rc1", got, err)
	}
	git(late, "commit", "-q", "--allow-empty", "-m", "two")
	git("", "tag", "-a", "-m", "release", "v1.2.3")
	if got, err := version(); err != nil || got != "1.2.3" {
		t.Errorf("tag v1.2.3: %q, %v; want 1.2.3", got, err)
	}
	git(late, "commit", "-q", "--allow-empty", "-m", "three")
	git("", "tag", "latest")
	if got, err := version(); err == nil || !strings.Contains(got, "does not start with a digit") {
		t.Errorf("tag latest: %q, %v; want a refusal", got, err)
	}
}

// TestPackage builds the .deb with scripts/package.sh, checks its file
// list and control data, installs it into a scratch root with dpkg
// --root (the maintainer scripts run outside a chroot with DPKG_ROOT set,
// so they must touch nothing of this machine), and runs what it
// installed: the binary, the man pages, the unit through systemd-analyze
// verify, the tmpfiles.d entry through systemd-tmpfiles --root. Then it
// purges the package from that root again.
func TestPackage(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: dpkg --root installs root-owned files as the package says")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "git", "man"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (scripts/test.sh installs it): %v", tool, err)
		}
	}
	if err := exec.Command("git", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout, package.sh takes the version from git: ", err)
	}
	_, err := exec.LookPath("systemd-tmpfiles")
	tmpfiles := err == nil
	if !tmpfiles {
		t.Log("systemd-tmpfiles not found: tmpfiles.d/carpd.conf not checked")
	}
	arch := runtime.GOARCH
	if arch != "amd64" && arch != "arm64" {
		t.Skipf("package.sh builds for amd64 and arm64, not %s", arch)
	}
	tmp := t.TempDir()
	start := time.Now()
	out, err := exec.Command("sh", packageScript, "--arch", arch, "--out", tmp).CombinedOutput()
	t.Logf("package.sh in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("package.sh: %v", err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "carpd_*_"+arch+".deb"))
	if len(debs) != 1 {
		t.Fatalf("package.sh made %q, want one carpd_*_%s.deb", debs, arch)
	}
	deb := debs[0]
	if fi, err := os.Stat(deb); err == nil {
		t.Logf("%s: %d bytes", filepath.Base(deb), fi.Size())
	}

	field := func(name string) string {
		t.Helper()
		out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	pkgVersion := field("Version")
	want, err := exec.Command("sh", packageScript, "--print-version").Output()
	if err != nil || pkgVersion != strings.TrimSpace(string(want)) {
		t.Errorf("Version %q, package.sh --print-version %q (%v)", pkgVersion, want, err)
	}
	if filepath.Base(deb) != "carpd_"+pkgVersion+"_"+arch+".deb" {
		t.Errorf("file name %s does not match Version %s", filepath.Base(deb), pkgVersion)
	}
	for name, want := range map[string]string{"Package": "carpd", "Architecture": arch, "Recommends": "mosquitto",
		"Suggests": "nftables", "Depends": "", "Pre-Depends": ""} {
		if got := field(name); got != want {
			t.Errorf("control %s: %q, want %q", name, got, want)
		}
	}
	conffiles, err := exec.Command("dpkg-deb", "-I", deb, "conffiles").Output()
	if err != nil || string(conffiles) != "/etc/carpd/carpd.yaml.example\n" {
		t.Errorf("conffiles %q (%v), want exactly /etc/carpd/carpd.yaml.example", conffiles, err)
	}

	entries := debContents(t, deb)
	files := map[string]string{}
	dirs := map[string]bool{}
	kib := 0
	for _, e := range entries {
		if e.owner != "root/root" {
			t.Errorf("%s owned by %s, want root/root", e.path, e.owner)
		}
		switch {
		case strings.HasPrefix(e.mode, "d"):
			dirs[e.path] = true
			if e.mode != "drwxr-xr-x" {
				t.Errorf("directory %s has mode %s", e.path, e.mode)
			}
			kib++
		case strings.HasPrefix(e.mode, "-"):
			files[e.path] = e.mode
			kib += int((e.size + 1023) / 1024)
		default:
			t.Errorf("%s: unexpected entry %s", e.path, e.mode)
			kib++
		}
	}
	wantFiles := map[string]string{
		"usr/sbin/carpd":                                 "-rwxr-xr-x",
		"lib/systemd/system/carpd.service":               "-rw-r--r--",
		"etc/carpd/carpd.yaml.example":                   "-rw-r--r--",
		"usr/lib/tmpfiles.d/carpd.conf":                  "-rw-r--r--",
		"usr/share/man/man5/carpd.yaml.5.gz":             "-rw-r--r--",
		"usr/share/bash-completion/completions/carpd":    "-rw-r--r--",
		"usr/share/zsh/vendor-completions/_carpd":        "-rw-r--r--",
		"usr/share/fish/vendor_completions.d/carpd.fish": "-rw-r--r--",
		"usr/share/doc/carpd/copyright":                  "-rw-r--r--",
		"usr/share/doc/carpd/README.md":                  "-rw-r--r--",
		"usr/share/doc/carpd/changelog.gz":               "-rw-r--r--",
		"usr/share/lintian/overrides/carpd":              "-rw-r--r--",
	}
	for _, page := range manPages(t) {
		wantFiles["usr/share/man/man8/"+page+".8.gz"] = "-rw-r--r--"
	}
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("package files (-want +got):\n%s", diff)
	}
	for d := range dirs {
		if d == "" {
			continue
		}
		if !slices.ContainsFunc(entries, func(e debEntry) bool { return strings.HasPrefix(e.path, d+"/") }) {
			t.Errorf("empty directory %s in the package", d)
		}
		if d == "etc" || strings.HasPrefix(d, "etc/") {
			if d != "etc" && d != "etc/carpd" {
				t.Errorf("directory %s under /etc", d)
			}
		}
	}
	if got := field("Installed-Size"); got != strconv.Itoa(kib) {
		t.Errorf("Installed-Size %s, the contents take %d KiB (files rounded up to KiB, 1 per directory)", got, kib)
	}

	root := filepath.Join(tmp, "root")
	installIntoRoot(t, root, deb, tmpfiles)

	bin := filepath.Join(root, "usr/sbin/carpd")
	out, err = exec.Command(bin, "--version").CombinedOutput()
	if err != nil || string(out) != "carpd version "+pkgVersion+"\n" {
		t.Errorf("carpd --version: %q, %v; want \"carpd version %s\"", out, err, pkgVersion)
	}
	out, err = exec.Command(bin, "check", "-c", filepath.Join(root, "etc/carpd/carpd.yaml.example")).CombinedOutput()
	t.Logf("carpd check of the example: %v\n%s", err, out)
	if err != nil {
		t.Errorf("carpd check of the installed example: %v", err)
	}

	for _, page := range []string{"usr/share/man/man8/carpd.8.gz", "usr/share/man/man5/carpd.yaml.5.gz", "usr/share/man/man8/carpd-check.8.gz"} {
		cmd := exec.Command("man", "-l", "--warnings", filepath.Join(root, page))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 || stdout.Len() == 0 {
			t.Errorf("man -l --warnings %s: %v, %d bytes, warnings:\n%s", page, err, stdout.Len(), stderr.String())
		}
	}

	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/carpd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ExecStart=/usr/sbin/carpd run -c /etc/carpd/carpd.yaml", "ExecReload=/usr/sbin/carpd check --quiet",
		"ProtectSystem=strict", "CapabilityBoundingSet=", "SystemCallFilter=@system-service", "RuntimeDirectory=carpd"} {
		if !strings.Contains(string(unit), "\n"+line) {
			t.Errorf("installed unit lacks %q", line)
		}
	}
	if strings.Contains(string(unit), "/usr/local/") {
		t.Error("installed unit still names /usr/local")
	}
	verifyUnit(t, string(unit), "/usr/sbin/carpd", bin)

	if tmpfiles {
		checkTmpfiles(t, root)
	}
	purgeFromRoot(t, root)
}

type debEntry struct {
	mode, owner, path string
	size              int64
}

// debContents parses dpkg-deb -c (tar -tv): mode, owner, size, date,
// time, ./path. The path has no leading "./"; the root is "".
func debContents(t *testing.T, deb string) []debEntry {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v", err)
	}
	t.Logf("dpkg-deb -c:\n%s", out)
	var entries []debEntry
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("dpkg-deb -c line %q: %v", line, err)
		}
		entries = append(entries, debEntry{mode: f[0], owner: f[1], size: size,
			path: strings.TrimSuffix(strings.TrimPrefix(f[5], "./"), "/")})
	}
	return entries
}

// manPages names the section 8 pages cobra/doc writes for the command
// tree: every command a user can run, with the completion command cobra
// adds at Execute, joined by "-".
func manPages(t *testing.T) []string {
	t.Helper()
	root := newRoot()
	root.InitDefaultCompletionCmd()
	var pages []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		pages = append(pages, strings.ReplaceAll(c.CommandPath(), " ", "-"))
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				walk(sub)
			}
		}
	}
	walk(root)
	if !slices.Contains(pages, "carpd-check") || !slices.Contains(pages, "carpd-completion-bash") {
		t.Fatalf("command tree pages %q lack carpd-check or carpd-completion-bash", pages)
	}
	return pages
}

// installIntoRoot installs deb into the empty root with dpkg --root, the
// maintainer scripts run outside a chroot (nothing is installed there to
// run them) with DPKG_ROOT=root.
func installIntoRoot(t *testing.T, root, deb string, tmpfiles bool) {
	t.Helper()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dpkg", dpkgRootArgs(root, "-i", deb)...).CombinedOutput()
	t.Logf("dpkg -i: %v\n%s", err, out)
	if err != nil {
		t.Fatalf("dpkg --root %s -i: %v", root, err)
	}
	// The root has no /etc/passwd, so the postinst's systemd-tmpfiles
	// cannot resolve mosquitto and creates nothing: the case of a
	// machine without mosquitto, which must not fail the installation.
	if _, err := os.Lstat(filepath.Join(root, "run/mosquitto")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run/mosquitto after installing into a root without a mosquitto user: %v", err)
	}
	if tmpfiles && !strings.Contains(string(out), "Failed to resolve user 'mosquitto'") {
		t.Errorf("dpkg -i output does not show systemd-tmpfiles refusing the unknown user")
	}
}

// dpkgRootArgs are dpkg's options for the scratch root. --path-include:
// container images often exclude /usr/share/man and /usr/share/doc in
// /etc/dpkg/dpkg.cfg.d, and the test reads what the package installs
// there; the command line comes after the configuration files.
func dpkgRootArgs(root string, args ...string) []string {
	return append([]string{"--root=" + root, "--force-not-root", "--force-script-chrootless", "--force-depends",
		"--log=/dev/null", "--path-include=*"}, args...)
}

// checkTmpfiles runs systemd-tmpfiles --root on the installed carpd.conf
// with and without a mosquitto user in the root's passwd file (tmpfiles
// resolves users inside --root): an unknown user is reported and the line
// skipped; a known one gets /run/mosquitto as mosquitto.service makes it.
func checkTmpfiles(t *testing.T, root string) {
	t.Helper()
	run := func() (string, error) {
		out, err := exec.Command("systemd-tmpfiles", "--root="+root, "--create", "carpd.conf").CombinedOutput()
		return string(out), err
	}
	out, err := run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(out, "Failed to resolve user 'mosquitto'") {
		t.Errorf("systemd-tmpfiles without a mosquitto user: %v, %q; want the user reported", err, out)
	} else {
		t.Logf("systemd-tmpfiles without a mosquitto user: exit %d, %q", ee.ExitCode(), out)
	}
	const uid = 4242 // not the host's mosquitto: proof the root's passwd was read
	for name, content := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nmosquitto:x:" + strconv.Itoa(uid) + ":" + strconv.Itoa(uid) + "::/var/lib/mosquitto:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nmosquitto:x:" + strconv.Itoa(uid) + ":\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(); err != nil || out != "" {
		t.Errorf("systemd-tmpfiles with a mosquitto user: %v, %q", err, out)
	}
	fi, err := os.Stat(filepath.Join(root, "run/mosquitto"))
	if err != nil {
		t.Fatalf("run/mosquitto: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != 0o740 || st.Uid != uid || st.Gid != 0 {
		t.Errorf("run/mosquitto: %v uid %d gid %d, want a directory 0740 owned by %d:0", fi.Mode(), st.Uid, st.Gid, uid)
	}
}

// purgeFromRoot purges the package from root: the maintainer scripts run
// again with DPKG_ROOT, and dpkg removes every file it installed,
// /etc/carpd included.
func purgeFromRoot(t *testing.T, root string) {
	t.Helper()
	out, err := exec.Command("dpkg", dpkgRootArgs(root, "--purge", "carpd")...).CombinedOutput()
	t.Logf("dpkg --purge: %v\n%s", err, out)
	if err != nil {
		t.Fatalf("dpkg --root %s --purge: %v", root, err)
	}
	for _, p := range []string{"usr/sbin/carpd", "etc/carpd", "lib/systemd/system/carpd.service", "usr/share/doc/carpd"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after purge: %v", p, err)
		}
	}
}

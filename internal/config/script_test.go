package config

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// nobody is the owner the tests give files carpd must not trust.
const nobody = 65534

// mkdir creates dir with exactly mode and owner uid (gid 0 unless gid).
func mkdir(t *testing.T, dir string, mode os.FileMode, uid, gid int) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	chown(t, dir, mode, uid, gid)
	return dir
}

// script writes an executable file with exactly mode and owner uid.
func script(t *testing.T, path string, mode os.FileMode, uid, gid int) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	chown(t, path, mode, uid, gid)
	return path
}

func chown(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	// After chown, which clears set-id bits; Chmod is not subject to umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives files to another owner")
	}
}

// TestCheckScript builds each unsafe layout under a private root-owned
// directory and checks that it is refused for the right file, and that
// the safe ones pass.
func TestCheckScript(t *testing.T) {
	needRoot(t)
	base := t.TempDir() // under /tmp: root-owned with the sticky bit
	tests := []struct {
		name string
		// build returns the path to check.
		build func(dir string) string
		// want is a substring of the error; "" means accepted.
		want string
	}{
		{"safe", func(d string) string { return script(t, d+"/up", 0o755, 0, 0) }, ""},
		{"world-writable parent", func(d string) string {
			return script(t, mkdir(t, d+"/open", 0o777, 0, 0)+"/up", 0o755, 0, 0)
		}, "/open is writable by group or others (mode 0777)"},
		{"world-writable file", func(d string) string { return script(t, d+"/up", 0o666, 0, 0) },
			"/up is writable by group or others (mode 0666)"},
		{"group-writable file", func(d string) string { return script(t, d+"/up", 0o775, 0, nobody) },
			"/up is writable by group or others (mode 0775)"},
		// keepalived: the root group may write (only root is in it).
		{"writable by the root group", func(d string) string { return script(t, d+"/up", 0o775, 0, 0) }, ""},
		{"file owned by nobody", func(d string) string { return script(t, d+"/up", 0o755, nobody, 0) },
			"/up is owned by uid 65534, not root"},
		{"parent owned by nobody", func(d string) string {
			return script(t, mkdir(t, d+"/theirs", 0o755, nobody, 0)+"/up", 0o755, 0, 0)
		}, "/theirs is owned by uid 65534, not root"},
		{"sticky world-writable parent", func(d string) string {
			return script(t, mkdir(t, d+"/tmp", 0o777|os.ModeSticky, 0, 0)+"/up", 0o755, 0, 0)
		}, ""},
		{"sticky parent owned by nobody", func(d string) string {
			return script(t, mkdir(t, d+"/tmp", 0o777|os.ModeSticky, nobody, 0)+"/up", 0o755, 0, 0)
		}, "/tmp is owned by uid 65534"},
		{"symlink to a file in a writable directory", func(d string) string {
			target := script(t, mkdir(t, d+"/open", 0o777, 0, 0)+"/up", 0o755, 0, 0)
			return symlink(t, target, d+"/link")
		}, "/open is writable by group or others"},
		{"relative symlink to a file owned by nobody", func(d string) string {
			script(t, d+"/up", 0o755, nobody, 0)
			return symlink(t, "./up", d+"/link")
		}, "/up is owned by uid 65534"},
		{"symlinked directory resolved before ..", func(d string) string {
			open := mkdir(t, d+"/open", 0o777, 0, 0)
			mkdir(t, open+"/sub", 0o755, 0, 0)
			script(t, open+"/up", 0o755, 0, 0)
			symlink(t, open+"/sub", d+"/link")
			return d + "/link/../up" // open/up, not d/up
		}, "/open is writable by group or others"},
		{"safe symlink", func(d string) string {
			return symlink(t, script(t, d+"/up", 0o755, 0, 0), d+"/link")
		}, ""},
		{"not executable", func(d string) string { return script(t, d+"/up", 0o644, 0, 0) }, "is not executable"},
		{"directory", func(d string) string { return mkdir(t, d+"/dir", 0o755, 0, 0) }, "is not a regular file"},
		{"missing", func(d string) string { return d + "/none" }, "/none does not exist"},
		{"missing directory", func(d string) string { return d + "/nodir/up" }, "/nodir does not exist"},
		{"symlink loop", func(d string) string { return symlink(t, d+"/link", d+"/link") }, "too many levels"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mkdir(t, filepath.Join(base, string(rune('a'+i))), 0o755, 0, 0)
			err := CheckScript(tt.build(dir), 0)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

// TestCheckScriptOwnUser accepts a program owned by the unprivileged user
// carpd runs as, and only when that user is passed.
func TestCheckScriptOwnUser(t *testing.T) {
	needRoot(t)
	up := script(t, t.TempDir()+"/up", 0o755, nobody, 0)
	if err := CheckScript(up, 0, nobody); err != nil {
		t.Errorf("owned by carpd's own user: %v", err)
	}
	if err := CheckScript(up, 0); err == nil {
		t.Errorf("owned by nobody, accepted for root")
	}
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestLoadScripts loads files with the system's checks: relative paths
// are resolved against the file's directory and stored absolute, a bare
// name is found in SafePath, and an unsafe program is refused at its line.
func TestLoadScripts(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	script(t, dir+"/up", 0o755, 0, 0)
	open := mkdir(t, dir+"/open", 0o777, 0, 0)
	script(t, open+"/check", 0o755, 0, 0)
	l := Loader{IfaceAddrs: fakeAddrs}
	load := func(body string) (*File, []string) {
		path := filepath.Join(dir, "c.yaml")
		text := "routers:\n  - iface: eth0\n    vhid: 1\n    vips: [198.18.0.2]\n" + body
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := l.Load(path)
		return f, errLines(t, err, path)
	}

	f, errs := load("    hooks:\n      up: [./up, x]\n      notify: [true]\n")
	if errs != nil {
		t.Fatalf("errors: %q", errs)
	}
	true_, err := lookSafePath("true")
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{f.Routers[0].Hooks.Up, f.Routers[0].Hooks.Notify}
	if diff := cmp.Diff([][]string{{dir + "/up", "x"}, {true_}}, got); diff != "" {
		t.Errorf("up, notify (-want +got):\n%s", diff)
	}

	_, errs = load("    hooks:\n      up: [./none]\n      down: [/etc/passwd]\n")
	want := []string{"6: hooks.up: refusing to run it: " + dir + "/none does not exist",
		"7: hooks.down: refusing to run it: /etc/passwd is not executable (mode 0644)"}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	_, errs = load("    track_script:\n      - argv: [open/check]\n")
	want = []string{"6: track_script check: refusing to run it: " + open + " is writable by group or others (mode 0777): chmod go-w " + open}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestFromArgsScripts checks ucarp's -u and -d like a file's hooks.
func TestFromArgsScripts(t *testing.T) {
	needRoot(t)
	open := mkdir(t, t.TempDir()+"/open", 0o777, 0, 0)
	up := script(t, open+"/up", 0o755, 0, 0)
	l := Loader{IfaceAddrs: fakeAddrs}
	_, err := l.FromArgs([]string{"-i", "eth0", "-v", "1", "-a", "198.18.0.2", "-u", up, "-d", "/bin/true"})
	want := "-u/--upscript: refusing to run it: " + open + " is writable by group or others (mode 0777): chmod go-w " + open
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestScriptUser reads script_user against this system's users: nobody
// and nogroup are 65534 on Debian and most distributions.
func TestScriptUser(t *testing.T) {
	u, err := user.Lookup("nobody")
	if err != nil || u.Uid != "65534" {
		t.Skipf("no user nobody with uid 65534 here: %v", err)
	}
	body := "routers:\n  - iface: eth0\n    vhid: 1\n    vips: [198.18.0.2]\n"
	f, errs := loadText(t, "script_user: nobody\n"+body)
	if errs != nil {
		t.Fatalf("errors: %q", errs)
	}
	if f.ScriptUser == nil || f.ScriptUser.UID != nobody || f.ScriptUser.GID != nobody {
		t.Errorf("script_user nobody: %+v", f.ScriptUser)
	}
	if f, errs = loadText(t, "script_user: \"65534:0\"\n"+body); errs != nil {
		t.Fatalf("errors: %q", errs)
	}
	if diff := cmp.Diff(&ScriptUser{Name: "65534:0", UID: nobody, GID: 0}, f.ScriptUser); diff != "" {
		t.Errorf("script_user 65534:0 (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ value, want string }{
		{"carpd-no-such-user", `1: script_user: no user "carpd-no-such-user" on this system`},
		{`"nobody:carpd-no-such-group"`, `1: script_user: no group "carpd-no-such-group" on this system`},
		{`"nobody:"`, `1: script_user: "nobody:": expected USER or USER:GROUP`},
	} {
		_, errs := loadText(t, "script_user: "+tc.value+"\n"+body)
		if diff := cmp.Diff([]string{tc.want}, errs); diff != "" {
			t.Errorf("script_user %s: errors (-want +got):\n%s", tc.value, diff)
		}
	}
}

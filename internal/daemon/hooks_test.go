package daemon

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestRunHookKillsGroupOnTimeout runs a script that leaves a background
// sleep behind and itself sleeps past the timeout: both must be gone, as
// a process group, shortly after runHook returns.
func TestRunHookKillsGroupOnTimeout(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	script := `echo $$ > "$1"; sleep 30 & sleep 30`
	start := time.Now()
	_, err := runHook(t.Context(), []string{"sh", "-c", script, "sh", pidFile}, nil, 300*time.Millisecond, nil)
	took := time.Since(start)
	if !errors.Is(err, errHookTimeout) {
		t.Fatalf("runHook = %v, want a timeout", err)
	}
	if took > 3*time.Second {
		t.Errorf("runHook returned after %v, want about the 300ms timeout", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Killed children may stay zombies until init reaps them; what
	// matters is that none of the group still runs.
	waitFor(t, time.Second, "process group dead", func() bool { return len(liveInGroup(t, pgid)) == 0 })
	t.Logf("runHook took %v; group dead after %v", took, time.Since(start))
}

func TestRunHookResult(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		out     string
		wantErr string
	}{
		{"ok with output", []string{"sh", "-c", "echo out; echo err >&2"}, "out\nerr\n", ""},
		{"exit status", []string{"sh", "-c", "echo nope; exit 3"}, "nope\n", "exit status 3"},
		{"missing program", []string{"/nonexistent/hook"}, "", "no such file"},
		{"empty argv", nil, "", "empty command"},
		// A shell string in argv[0] is a program name, never interpreted.
		{"no shell", []string{"echo hi; true"}, "", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runHook(t.Context(), tt.argv, nil, time.Second, nil)
			if string(out) != tt.out {
				t.Errorf("output %q, want %q", out, tt.out)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunHookCapsOutput(t *testing.T) {
	out, err := runHook(t.Context(), []string{"head", "-c", "20000", "/dev/zero"}, nil, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < maxHookOutput || len(out) > maxHookOutput+64 || !strings.HasSuffix(string(out), "[3616 more bytes dropped]") {
		t.Errorf("kept %d bytes ending %q", len(out), out[max(len(out)-40, 0):])
	}
}

// TestHookArgv pins the command lines ucarp and keepalived scripts expect.
func TestHookArgv(t *testing.T) {
	r := &config.Router{Name: "carp7", Iface: "eth0.29", Hooks: config.Hooks{XParam: "x y"}}
	noX := &config.Router{Name: "carp7", Iface: "eth0.29"}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"ucarp with xparam", scriptArgv([]string{"/etc/vip-up.sh"}, r, "198.18.0.100"),
			[]string{"/etc/vip-up.sh", "eth0.29", "198.18.0.100", "x y"}},
		{"ucarp without xparam", scriptArgv([]string{"/etc/vip-up.sh"}, noX, "198.18.0.100"),
			[]string{"/etc/vip-up.sh", "eth0.29", "198.18.0.100"}},
		{"configured args kept first", scriptArgv([]string{"/usr/bin/logger", "-t", "carp"}, noX, "2001:2::1"),
			[]string{"/usr/bin/logger", "-t", "carp", "eth0.29", "2001:2::1"}},
		{"keepalived notify", notifyArgv([]string{"/etc/notify.sh"}, "VI_1", "MASTER", 150),
			[]string{"/etc/notify.sh", "INSTANCE", "VI_1", "MASTER", "150"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestHookEnvAndArgsReachScript runs a real script through the executor
// and checks what it received, argument by argument.
func TestHookEnvAndArgsReachScript(t *testing.T) {
	dir := t.TempDir()
	script := dir + "/dump"
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done >> " + dir + "/out\necho >> " + dir + "/out\n" +
		"env | grep '^CARPD_' | sort >> " + dir + "/out\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := vrrpRouter("VI_1", 51, 120, "198.18.0.100/32", "198.18.0.101/24")
	spec.Hooks = config.Hooks{Up: []string{script}, Notify: []string{script, "--from-carpd"}, XParam: "extra arg"}
	e, _ := newTestExecutor(t, &spec, nil)
	e.enqueue(job{kind: jobPromote, from: 1, to: 2, notify: "MASTER", prio: 120, queued: time.Now()})
	e.close()
	<-e.done
	b, err := os.ReadFile(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	env := "CARPD_ID=51\nCARPD_IFACE=eth0\nCARPD_PROTO=vrrp3\nCARPD_ROUTER=VI_1\nCARPD_STATE=MASTER\n" +
		"CARPD_VIPS=198.18.0.100/32 198.18.0.101/24\n"
	want := "[eth0][198.18.0.100][extra arg]\n" + env +
		"[eth0][198.18.0.101][extra arg]\n" + env +
		"[--from-carpd][INSTANCE][VI_1][MASTER][120]\n" + env
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("what the scripts saw (-want +got):\n%s", diff)
	}
}

// liveInGroup returns the pids of processes in group pgid that are not
// zombies, from /proc/<pid>/stat ("pid (comm) state ppid pgrp ...").
func liveInGroup(t *testing.T, pgid int) []int {
	t.Helper()
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			live = append(live, pid)
		}
	}
	return live
}

// TestHookEnvIsMinimal runs a hook through the executor while carpd's
// own environment holds the service manager's variables and a secret: the
// hook must see only the safe PATH, LANG and TZ, and CARPD_*.
func TestHookEnvIsMinimal(t *testing.T) {
	for k, v := range map[string]string{
		"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1",
		"LISTEN_FDS": "1", "INVOCATION_ID": "x", "JOURNAL_STREAM": "8:9", "CARPD_SECRET": "s3cret",
		"PATH": "/tmp/evil:" + os.Getenv("PATH"), "LANG": "C.UTF-8", "TZ": "UTC",
	} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	script := dir + "/dump"
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+dir+"/env\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := vrrpRouter("VI_1", 51, 120, "198.18.0.100/32")
	spec.Hooks = config.Hooks{Notify: []string{script}}
	e, _ := newTestExecutor(t, &spec, nil)
	e.enqueue(job{kind: jobPromote, from: 1, to: 2, notify: "MASTER", prio: 120, queued: time.Now()})
	e.close()
	<-e.done
	b, err := os.ReadFile(dir + "/env")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "PWD=") { // the shell's own, exported by sh
			got = append(got, l)
		}
	}
	want := []string{"CARPD_ID=51", "CARPD_IFACE=eth0", "CARPD_PROTO=vrrp3", "CARPD_ROUTER=VI_1",
		"CARPD_STATE=MASTER", "CARPD_VIPS=198.18.0.100/32", "LANG=C.UTF-8", "PATH=" + config.SafePath, "TZ=UTC"}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("the hook's environment (-want +got):\n%s", diff)
	}
}

// TestRunHookAsUser runs a hook as nobody with no supplementary groups,
// as script_user asks; it needs root to switch users.
func TestRunHookAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a hook as another user")
	}
	user := &config.ScriptUser{Name: "nobody", UID: 65534, GID: 65534}
	out, err := runHook(t.Context(), []string{"/bin/sh", "-c", "id -u; id -g; id -G"}, nil, 5*time.Second, user)
	if err != nil {
		t.Fatalf("runHook: %v (output %q)", err, out)
	}
	if diff := cmp.Diff("65534\n65534\n65534\n", string(out)); diff != "" {
		t.Errorf("uid, gid, groups (-want +got):\n%s", diff)
	}
}

// TestHookTimeout bounds a hook without a timeout of its own by the
// configuration's documented default, not one of the daemon's.
func TestHookTimeout(t *testing.T) {
	for _, tt := range []struct{ set, want time.Duration }{
		{0, config.DefaultHookTimeout},
		{-time.Second, config.DefaultHookTimeout},
		{2 * time.Second, 2 * time.Second},
	} {
		if got := hookTimeout(tt.set); got != tt.want {
			t.Errorf("hookTimeout(%v) = %v, want %v", tt.set, got, tt.want)
		}
	}
}

// TestStateHooksRunOnlyOnTheirState runs a promotion, a demotion, a fault
// and a stop through the executor with keepalived's notify_master,
// notify_backup, notify_fault and notify_stop configured, and a generic
// notify: each state hook runs only on its state, with its own arguments
// and nothing appended, before the notify hook.
func TestStateHooksRunOnlyOnTheirState(t *testing.T) {
	dir := t.TempDir()
	script := dir + "/dump"
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done >> " + dir + "/out\necho \" $CARPD_STATE\" >> " + dir + "/out\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := vrrpRouter("VI_1", 51, 120, "198.18.0.100/32")
	spec.Hooks = config.Hooks{
		Notify: []string{script, "notify"},
		Master: []string{script, "master", "start"}, Backup: []string{script, "backup"},
		Fault: []string{script, "fault"}, Stop: []string{script, "stop"},
	}
	e, _ := newTestExecutor(t, &spec, nil)
	now := time.Now()
	for _, j := range []job{
		{kind: jobPromote, from: carp.Backup, to: carp.Master, notify: "MASTER", prio: 120},
		{kind: jobDemote, from: carp.Master, to: carp.Backup, notify: "BACKUP", prio: 120},
		{kind: jobDemote, from: carp.Init, to: carp.Init, notify: "FAULT", prio: 0},
		{kind: jobDemote, from: carp.Init, to: carp.Init, notify: "STOP", prio: 0},
	} {
		j.queued = now
		e.enqueue(j)
	}
	e.close()
	<-e.done
	b, err := os.ReadFile(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	want := "[master][start] MASTER\n[notify][INSTANCE][VI_1][MASTER][120] MASTER\n" +
		"[backup] BACKUP\n[notify][INSTANCE][VI_1][BACKUP][120] BACKUP\n" +
		"[fault] FAULT\n[notify][INSTANCE][VI_1][FAULT][0] FAULT\n" +
		"[stop] STOP\n[notify][INSTANCE][VI_1][STOP][0] STOP\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("what the hooks saw, in order (-want +got):\n%s", diff)
	}
}

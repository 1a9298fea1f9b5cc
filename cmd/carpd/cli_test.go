package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/control"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// parsed is what a `carpd run` command line came to.
type parsed struct {
	Iface                    string
	ID, AdvBase, AdvSkew     int
	Preempt, Daemonize       bool
	Group                    string
	VIPs                     []string
	LogFormat, Level, Metric string
}

// parseRun runs args through the real command tree with `carpd run`'s
// work replaced by reading its flags; the code is main's exit status.
func parseRun(t *testing.T, args ...string) (parsed, int, error) {
	t.Helper()
	var got parsed
	old := runMain
	t.Cleanup(func() { runMain = old })
	runMain = func(_ context.Context, rf *runFlags, _ io.Writer, _ errOut) error {
		f, err := config.FromFlags(rf.cfg)
		if err != nil {
			return usageError(err)
		}
		r := f.Routers[0]
		got = parsed{Iface: r.Iface, ID: int(r.ID), AdvBase: int(r.Machine.AdvBase), AdvSkew: int(r.Machine.AdvSkew),
			Preempt: r.Machine.Preempt, Daemonize: f.Daemonize, Group: r.Group.String(),
			LogFormat: rf.log.format, Level: rf.log.level, Metric: rf.log.metrics}
		for _, v := range r.VIPs {
			got.VIPs = append(got.VIPs, v.String())
		}
		return nil
	}
	root := newRoot()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetArgs(append([]string{"run"}, args...))
	code, err := execute(root)
	return got, code, err
}

// migrationLine is the `carpd run` line docs/migration.md offers ucarp
// users, with its files, under /etc/ucarp/, taken from dir.
func migrationLine(t *testing.T, dir string) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/migration.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^carpd run ((?:.*\\\n)*.*)$`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("no carpd run line in docs/migration.md")
	}
	line := strings.ReplaceAll(string(m[1]), "\\\n", " ")
	t.Logf("docs/migration.md: carpd run %s", line)
	return strings.Fields(strings.ReplaceAll(line, "/etc/ucarp/", dir+"/"))
}

// TestRunCommandLines: cobra parses every flag of `carpd run`, ucarp's
// getopt forms included, to the configuration FromArgs would build, and
// refuses bad lines with status 2.
func TestRunCommandLines(t *testing.T) {
	etc := t.TempDir()
	for name, content := range map[string]string{"pass": "s3cret\n", "vip-up.sh": "#!/bin/sh\n", "vip-down.sh": "#!/bin/sh\n"} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(etc, "pass"), 0o600); err != nil {
		t.Fatal(err)
	}
	ucarp := parsed{Iface: "eth0.29", ID: 29, AdvBase: 1, Preempt: true, Daemonize: true, Group: "224.0.0.18",
		VIPs: []string{"192.0.2.2/32"}, LogFormat: "text"}
	cluster := parsed{Iface: "eth0", ID: 29, AdvBase: 0, AdvSkew: 100, Preempt: true, Group: "224.0.0.18",
		VIPs: []string{"198.18.0.10/32"}, LogFormat: "text"}
	withLog := cluster
	withLog.LogFormat, withLog.Level, withLog.Metric = "json", "debug", "127.0.0.1:9112"
	hex := cluster
	hex.Group = "239.1.2.3"
	tests := []struct {
		name string
		args []string
		want parsed
		code int
		err  string
	}{
		{"docs/migration.md ucarp line", migrationLine(t, etc), ucarp, 0, ""},
		{"clusters", []string{"-Pz", "-ieth0", "-v29", "-k100", "-a", "198.18.0.10", "-b0"}, cluster, 0, ""},
		{"long forms with =", []string{"--preempt", "--interface=eth0", "--vhid=29", "--advskew=100", "--addr=198.18.0.10", "--advbase=0"}, cluster, 0, ""},
		{"long forms with a space", []string{"--preempt", "--interface", "eth0", "--vhid", "29", "--advskew", "100", "--addr", "198.18.0.10", "--advbase", "0"}, cluster, 0, ""},
		{"run's own flags, both forms", []string{"-Pz", "-i", "eth0", "--log-format=json", "-v", "29", "--log-level", "debug",
			"-k", "100", "--metrics-listen=127.0.0.1:9112", "-a", "198.18.0.10", "-b", "0"}, withLog, 0, ""},
		{"C numbers, ucarp's --mcastip", []string{"-P", "-i", "eth0", "-v", "0x1d", "-k", "0144", "-b", "00", "-a", "198.18.0.10", "--mcastip", "239.1.2.3"}, hex, 0, ""},
		{"unknown long flag", []string{"-i", "eth0", "--bogus"}, parsed{}, 2, "unknown flag: --bogus"},
		{"unknown short flag", []string{"-y"}, parsed{}, 2, "unknown shorthand flag: 'y' in -y"},
		{"missing value", []string{"-i", "eth0", "-v"}, parsed{}, 2, "flag needs an argument: 'v' in -v"},
		{"missing value of a long flag", []string{"-i", "eth0", "--log-level"}, parsed{}, 2, "flag needs an argument: --log-level"},
		{"bad number", []string{"-i", "eth0", "-v", "29x", "-a", "198.18.0.10"}, parsed{}, 2, `-v/--vhid: "29x" is not an integer`},
		{"router flag with -c", []string{"-c", filepath.Join(configdata, "minimal.yaml"), "-P"}, parsed{}, 2,
			"-P/--preempt cannot be combined with -c: put router settings in the file"},
		{"log flags are not router flags", []string{"-c", filepath.Join(configdata, "minimal.yaml"), "--log-format", "json"},
			parsed{Iface: "eth0", ID: 29, AdvBase: 1, Group: "224.0.0.18", VIPs: []string{"198.18.0.2/32"}, LogFormat: "json"}, 0, ""},
		{"positional argument", []string{"eth0"}, parsed{}, 2, `unexpected argument "eth0": every setting is a flag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code, err := parseRun(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d (error %v)", code, tt.code, err)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckAcceptsRunFlags: a unit's whole ExecStart= line checks.
func TestCheckAcceptsRunFlags(t *testing.T) {
	out, errOut, err := runCheck(t, "-c", filepath.Join(configdata, "minimal.yaml"), "--log-format", "json",
		"--log-level=warn", "--metrics-listen", ":9112", "-q")
	if err != nil || out != "" {
		t.Fatalf("stdout %q, error %v", out, err)
	}
	if !strings.Contains(errOut, "metrics_listen :9112 is not a loopback address") {
		t.Errorf("stderr lacks the --metrics-listen exposure warning:\n%s", errOut)
	}
	if _, _, err := runCheck(t, "-c", filepath.Join(configdata, "minimal.yaml"), "--log-format", "xml"); err == nil ||
		!strings.Contains(err.Error(), `--log-format "xml": want text or json`) {
		t.Errorf("--log-format xml: %v", err)
	}
}

// TestCheckDefaultFile: `carpd check` alone reads the default file, and
// so do -q and the flags that may come with -c; a router flag does not.
func TestCheckDefaultFile(t *testing.T) {
	old := checkDefaultFile
	t.Cleanup(func() { checkDefaultFile = old })
	checkDefaultFile = filepath.Join(configdata, "minimal.yaml")
	want, err := os.ReadFile(filepath.Join(configdata, "minimal.golden"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runCheck(t)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out); diff != "" {
		t.Errorf("check alone: stdout (-want +got):\n%s", diff)
	}
	if out, _, err := runCheck(t, "-q", "-D"); err != nil || out != "" {
		t.Errorf("check -q -D: stdout %q, error %v; want nothing and success", out, err)
	}
	_, errOut, err := runCheck(t, "-i", "eth0")
	if err == nil || !strings.Contains(errOut, "-v/--vhid is required") {
		t.Errorf("check -i eth0: error %v, stderr %q; want the ucarp line's errors", err, errOut)
	}
	checkDefaultFile = filepath.Join(t.TempDir(), "none.yaml")
	if _, errOut, err := runCheck(t, "--quiet"); err == nil || !strings.Contains(errOut, checkDefaultFile) {
		t.Errorf("missing default file: error %v, stderr %q; want it named", err, errOut)
	}
}

// complete runs cobra's hidden __complete command, as the shell scripts
// of `carpd completion` do, and returns its lines.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// TestCompletion: the flags of run and check complete, and so do the
// values that have a fixed set or live on the machine.
func TestCompletion(t *testing.T) {
	names := func(lines []string) []string {
		var ns []string
		for _, l := range lines {
			ns = append(ns, strings.SplitN(l, "\t", 2)[0])
		}
		return ns
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--pro"}, []string{"--proto", ":4"}},
		{[]string{"check", "--log-"}, []string{"--log-format", "--log-level", ":4"}},
		{[]string{"run", "--proto", ""}, []string{"carp", "vrrp2", "vrrp3", ":4"}},
		{[]string{"run", "--proto="}, []string{"carp", "vrrp2", "vrrp3", ":4"}},
		{[]string{"check", "--log-format", ""}, []string{"text", "json", ":4"}},
		{[]string{"run", "-Pz", "--log-level", ""}, []string{"debug", "info", "warn", "error", ":4"}},
		{[]string{"run", "-c", ""}, []string{"yaml", "yml", ":8"}},
		{[]string{"run", "--state-dir", ""}, []string{":16"}},
	}
	for _, tt := range tests {
		got := names(complete(t, tt.args...))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("__complete %q (-want +got):\n%s", tt.args, diff)
		}
	}
	// Every flag of run is offered to check, -q more.
	run, check := names(complete(t, "run", "-")), names(complete(t, "check", "-"))
	for _, f := range run {
		if f != ":4" && !strings.Contains(strings.Join(check, " "), f) {
			t.Errorf("check does not offer %s", f)
		}
	}
	for _, f := range []string{"--interface", "-i", "--mcast", "--metrics-listen", "--log-format"} {
		if !strings.Contains(" "+strings.Join(run, " ")+" ", " "+f+" ") {
			t.Errorf("run does not offer %s: %q", f, run)
		}
	}
	// The machine's interfaces: loopback is always there on Linux.
	ifs := names(complete(t, "run", "--interface", ""))
	lo := false
	for _, n := range ifs {
		lo = lo || n == "lo"
	}
	if !lo || ifs[len(ifs)-1] != ":4" {
		t.Errorf("--interface completions %q, want lo among them and :4", ifs)
	}
}

func TestCompleteInterfaces(t *testing.T) {
	list := func() ([]net.Interface, error) {
		return []net.Interface{{Name: "eth0"}, {Name: "eth0.29"}, {Name: "lo"}, {Name: "wlan0"}}, nil
	}
	got, dir := completeInterfaces(list)(nil, nil, "eth")
	if diff := cmp.Diff([]string{"eth0", "eth0.29"}, got); diff != "" || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("prefix eth: directive %v, names (-want +got):\n%s", dir, diff)
	}
	fail := func() ([]net.Interface, error) { return nil, errors.New("netlink") }
	if _, dir := completeInterfaces(fail)(nil, nil, ""); dir != cobra.ShellCompDirectiveError {
		t.Errorf("failing list: directive %v, want error", dir)
	}
}

// TestExitCodes runs main's mapping on each kind of outcome.
func TestExitCodes(t *testing.T) {
	stateDir := t.TempDir()
	// A socket file nobody listens on: a carpd that died without cleaning up.
	dead := t.TempDir()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dead, "carpd.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("routers: [{iface: eth0, vhid: 0, vips: [198.18.0.2]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"check", "-q", "-c", filepath.Join(configdata, "minimal.yaml")}, 0},
		{[]string{"version"}, 0},
		{[]string{"inspect", filepath.Join(t.TempDir(), "missing.pcap")}, 1},
		{[]string{"check", "--bogus"}, 2},
		{[]string{"check", "-c"}, 2},
		{[]string{"check", "-c", bad}, 2},
		{[]string{"run", "-c", bad}, 2},
		{[]string{"run", "--log-level", "loud", "-c", bad}, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"demote"}, 2},
		{[]string{"status", "extra"}, 2},
		{[]string{"status", "--state-dir", stateDir}, 3},
		{[]string{"demote", "--state-dir", stateDir, "carp1"}, 3},
		{[]string{"status", "--state-dir", dead}, 3},
	}
	for _, tt := range tests {
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(tt.args)
		code, err := execute(root)
		t.Logf("carpd %s: %d %v", strings.Join(tt.args, " "), code, err)
		if code != tt.want {
			t.Errorf("carpd %s: exit status %d, want %d (error %v)", strings.Join(tt.args, " "), code, tt.want, err)
		}
	}
	var e *exitError
	_, err = call(context.Background(), dead, control.Request{Op: "status"})
	if !errors.As(err, &e) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dead socket: %v, want exit status 3 wrapping ECONNREFUSED", err)
	}
}

// TestRootHelpExitCodes: `carpd --help` documents the statuses.
func TestRootHelpExitCodes(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit status:", "  2  bad command line or configuration", "  3  \"carpd status\" and \"carpd demote\": carpd is not running"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("carpd --help lacks %q:\n%s", want, out.String())
		}
	}
}

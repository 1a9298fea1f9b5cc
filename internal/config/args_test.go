package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/secret"
	"github.com/google/go-cmp/cmp"
)

// passfile writes a 0600 password file and returns its path.
func passfile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ucarpRouter is what a plain ucarp command line means: CARP defaults, the
// VIP as /32, multicast to 224.0.0.18.
func ucarpRouter(iface string, vhid uint8, vip string) Router {
	return Router{
		Name: "carp" + strconv.Itoa(int(vhid)), Iface: iface, Proto: carp.ProtoCARP, ID: vhid,
		Machine:        carp.DefaultConfig(carp.ProtoCARP, vhid),
		VIPs:           []netip.Prefix{netip.MustParsePrefix(vip + "/32")},
		Group:          carp.Group(false),
		V3PseudoHeader: true,
		GARP:           GARP{Repeat: 5, Interval: 1100 * time.Millisecond, Delay: 5 * time.Second},
		Hooks:          Hooks{Timeout: 30 * time.Second},

		UnicastTTLCheck: true,
	}
}

var cmpAddrs = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func TestFromArgs(t *testing.T) {
	pf := passfile(t, "s3cret\n")
	classic := ucarpRouter("eth0.29", 29, "198.18.0.2")
	classic.SrcIP = netip.MustParseAddr("198.18.0.3")
	classic.Password, classic.Passfile = secret.Secret("s3cret"), pf
	classic.Machine.Preempt = true
	classic.Hooks.Up, classic.Hooks.Down = []string{"/etc/ucarp/up.sh"}, []string{"/etc/ucarp/down.sh"}

	long := ucarpRouter("eth0", 10, "198.18.0.10")
	long.Machine.AdvBase, long.Machine.AdvSkew, long.Machine.DeadRatio = 2, 50, 4
	long.Group = netip.MustParseAddr("239.1.2.3")
	long.IgnoreIfState, long.Neutral = true, true
	// ucarp execl()s the script: a bare name is in the working directory.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	long.Hooks.Up, long.Hooks.XParam = []string{filepath.Join(wd, "up.sh")}, "x"

	multi := ucarpRouter("eth1", 3, "198.18.1.10")
	multi.VIPs = append(multi.VIPs, netip.MustParsePrefix("198.18.1.11/24"))
	multi.Peers, multi.Group = []netip.Addr{netip.MustParseAddr("198.18.1.4")}, netip.Addr{}
	// Unicast peers keep the TTL check unless unicast_ttl_check: false.
	multi.Machine.Preempt = true
	multi.Name = "mqtt"

	v2 := ucarpRouter("eth0", 51, "198.18.0.51")
	v2.Name, v2.Proto = "vrrp51", carp.ProtoVRRP2
	v2.Machine = carp.DefaultConfig(carp.ProtoVRRP2, 51)
	v2.Machine.Priority, v2.Machine.Interval = 150, 3*time.Second
	v2.Password = secret.Secret("pw")

	v3 := ucarpRouter("eth0", 52, "198.18.0.52")
	v3.Name, v3.Proto = "vrrp52", carp.ProtoVRRP3
	v3.Machine = carp.DefaultConfig(carp.ProtoVRRP3, 52)
	v3.Machine.Interval, v3.Machine.Preempt = 100*time.Millisecond, false
	v3.VIPByScripts, v3.Hooks.Up = true, []string{"/up"}

	tests := []struct {
		name     string
		args     []string
		want     Router
		stateDir string
		debug    bool
	}{
		{"classic ucarp line without -B",
			[]string{"-i", "eth0.29", "-s", "198.18.0.3", "-v", "29", "-o", pf, "-a", "198.18.0.2", "-u", "/etc/ucarp/up.sh", "-d", "/etc/ucarp/down.sh", "-P", "-z"},
			classic, DefaultStateDir, false},
		{"same, clustered short flags and attached values",
			[]string{"-ieth0.29", "-s198.18.0.3", "-v29", "-o" + pf, "-a198.18.0.2", "-u/etc/ucarp/up.sh", "-d/etc/ucarp/down.sh", "-Pz"},
			classic, DefaultStateDir, false},
		{"long forms with =",
			[]string{"--interface=eth0", "--vhid=10", "--addr=198.18.0.10", "--advbase=2", "--advskew=50", "--deadratio=4",
				"--mcast=239.1.2.3", "--ignoreifstate", "--neutral", "--upscript=up.sh", "--xparam=x", "--facility=daemon", "--debug", "--state-dir=/run/carpd-ns1"},
			long, "/run/carpd-ns1", true},
		{"short forms of the same",
			[]string{"-i", "eth0", "-v", "10", "-a", "198.18.0.10", "-b", "2", "-k", "50", "-r", "4", "--mcast", "239.1.2.3", "-S", "-n", "-u", "up.sh", "-x", "x", "-f", "none", "-D", "--state-dir", "/run/carpd-ns1/"},
			long, "/run/carpd-ns1", true},
		{"several VIPs, unicast peer, name",
			[]string{"-i", "eth1", "-v", "3", "-a", "198.18.1.10", "-a", "198.18.1.11/24", "--peer", "198.18.1.4", "-P", "--name", "mqtt"},
			multi, DefaultStateDir, false},
		{"vrrp2 with -b seconds and -p PASS",
			[]string{"--proto", "vrrp2", "-i", "eth0", "-v", "51", "-a", "198.18.0.51", "--priority", "150", "-b", "3", "-p", "pw"},
			v2, DefaultStateDir, false},
		{"vrrp3 with --interval and --nopreempt",
			[]string{"--proto=vrrp3", "-i", "eth0", "-v", "52", "-a", "198.18.0.52", "--interval", "100ms", "--nopreempt", "--vip-by-scripts", "-u", "/up"},
			v3, DefaultStateDir, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := testLoader.FromArgs(tt.args)
			if err != nil {
				t.Fatalf("FromArgs: %v", err)
			}
			if f.Path != "" || f.StateDir != tt.stateDir || f.Debug != tt.debug {
				t.Errorf("file: path %q state dir %q debug %v, want \"\" %q %v", f.Path, f.StateDir, f.Debug, tt.stateDir, tt.debug)
			}
			if len(f.Routers) != 1 {
				t.Fatalf("%d routers, want 1", len(f.Routers))
			}
			if diff := cmp.Diff(tt.want, f.Routers[0], cmpAddrs...); diff != "" {
				t.Errorf("router (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromArgsErrors(t *testing.T) {
	base := []string{"-i", "eth0", "-v", "1", "-a", "198.18.0.2"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown short flag", append([]string{"-y", "x"}, base...), []string{"unknown shorthand flag: 'y' in -y"}},
		{"unknown long flag", append([]string{"--foo"}, base...), []string{"unknown flag: --foo"}},
		{"nomcast", append([]string{"-M"}, base...),
			[]string{"-M/--nomcast (broadcast advertisements) is not supported: use unicast peers (--peer ADDR, once per peer) or --mcast GROUP"}},
		{"positional argument", append([]string{"eth0"}, base...), []string{`unexpected argument "eth0": every setting is a flag`}},
		{"nothing", nil, []string{"-v/--vhid is required", "-i/--interface is required", "-a/--addr: at least one virtual address is required"}},
		{"vhid 0", []string{"-i", "eth0", "-v", "0", "-a", "198.18.0.2"}, []string{"-v/--vhid: 0 is out of range 1..255"}},
		{"vhid wraps in ucarp, not here", []string{"-i", "eth0", "-v", "257", "-a", "198.18.0.2"}, []string{"-v/--vhid: 257 is out of range 1..255"}},
		{"advskew 255", append([]string{"-k", "255"}, base...), []string{"-k/--advskew: 255 is reserved for the bow-out advertisement (0..254)"}},
		{"advskew with vrrp", append([]string{"--proto", "vrrp2", "-k", "1"}, base...),
			[]string{"-k/--advskew is a carp setting, not allowed with --proto vrrp2; VRRP uses priority"}},
		{"priority with carp", append([]string{"--priority", "200"}, base...),
			[]string{"--priority is a vrrp setting, not allowed with --proto carp; CARP uses advskew"}},
		{"carp password too long", append([]string{"-p", "01234567890123456789"}, base...),
			[]string{"-p/--pass: the password is 20 bytes, at most 19 allowed for carp (HMAC key)"}},
		{"vrrp2 password too long", append([]string{"--proto", "vrrp2", "-p", "123456789"}, base...),
			[]string{"-p/--pass: the password is 9 bytes, at most 8 allowed for vrrp2 (auth_type PASS)"}},
		{"vrrp3 password", append([]string{"--proto", "vrrp3", "-p", "x"}, base...),
			[]string{"-p/--pass: vrrp3 has no authentication (RFC 5798 removed it)"}},
		{"-b and --interval", append([]string{"--proto", "vrrp3", "-b", "1", "--interval", "1s"}, base...),
			[]string{"-b/--advbase and --interval both set the VRRP interval: give one"}},
		{"vrrp2 -b 0", append([]string{"--proto", "vrrp2", "-b", "0"}, base...), []string{"-b/--advbase: 0 is out of range 1..255"}},
		{"vrrp3 interval", append([]string{"--proto", "vrrp3", "--interval", "15ms"}, base...),
			[]string{"--interval: 15ms is not a multiple of 10ms in 10ms..40.95s (vrrp3)"}},
		{"-P and --nopreempt", append([]string{"--proto", "vrrp3", "-P", "--nopreempt"}, base...),
			[]string{"-P/--preempt and --nopreempt contradict each other"}},
		{"bad proto", append([]string{"--proto", "vrrp"}, base...), []string{`--proto: "vrrp" is not carp, vrrp2 or vrrp3`}},
		{"bad srcip", append([]string{"-s", "eth0"}, base...), []string{`-s/--srcip: "eth0" is not an IP address`}},
		{"vip is the interface address", []string{"-i", "eth0", "-v", "1", "-a", "198.18.0.3"},
			[]string{"-a/--addr: 198.18.0.3 is an address of eth0 itself; a VIP must be an address no host keeps"}},
		{"-c with router flags", []string{"-c", "testdata/minimal.yaml", "-i", "eth0", "-P"},
			[]string{"-i/--interface cannot be combined with -c: put router settings in the file",
				"-P/--preempt cannot be combined with -c: put router settings in the file"}},
		{"relative state dir", append([]string{"--state-dir", "run"}, base...), []string{`--state-dir: "run" is not an absolute path`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testLoader.FromArgs(tt.args)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("FromArgs: %v, want Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromArgsConfigFile(t *testing.T) {
	f, err := testLoader.FromArgs([]string{"-c", "testdata/minimal.yaml", "--state-dir", "/run/x", "-D", "-z", "-f", "local0"})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{f.Path, f.StateDir, f.Debug, len(f.Routers), f.Routers[0].Line}
	if diff := cmp.Diff([]any{"testdata/minimal.yaml", "/run/x", true, 1, 3}, got); diff != "" {
		t.Errorf("path, state dir, debug, routers, line (-want +got):\n%s", diff)
	}
}

func TestFromArgsHelp(t *testing.T) {
	if _, err := testLoader.FromArgs([]string{"-h"}); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v, want ErrHelp", err)
	}
	u := ArgsUsage()
	for _, flag := range []string{"-i, --interface", "-z, --shutdown", "-M, --nomcast", "--mcast", "--peer", "--vip-by-scripts"} {
		if !strings.Contains(u, flag) {
			t.Errorf("usage lacks %q", flag)
		}
	}
}

func TestFromArgsWarnings(t *testing.T) {
	f, err := testLoader.FromArgs([]string{"-i", "eth9", "-v", "1", "-a", "198.18.0.2", "-p", "pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-p/--pass puts the password in the process list (ps, /proc/PID/cmdline): use -o FILE with mode 0600",
		"router carp1: interface eth9: route ip+net: no such network interface; carpd run will refuse to start without it",
	}
	if diff := cmp.Diff(want, f.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestFromArgsDaemonize(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-i", "eth0", "-v", "1", "-a", "198.18.0.10"}, false},
		{[]string{"-B", "-i", "eth0", "-v", "1", "-a", "198.18.0.10"}, true},
		{[]string{"-i", "eth0", "-v", "1", "-a", "198.18.0.10", "--daemonize"}, true},
	} {
		f, err := Loader{IfaceAddrs: func(string) ([]netip.Prefix, error) { return nil, nil }}.FromArgs(tc.args)
		if err != nil {
			t.Fatalf("FromArgs(%q): %v", tc.args, err)
		}
		if f.Daemonize != tc.want {
			t.Errorf("FromArgs(%q).Daemonize = %v, want %v", tc.args, f.Daemonize, tc.want)
		}
	}
}

// TestFromArgsCNumbers: ucarp reads -v, -b, -k and -r with strtoul(s,
// NULL, 0) (ucarp src/ucarp.c), so hex and octal work there and here;
// carpd refuses what strtoul would silently cut or wrap.
func TestFromArgsCNumbers(t *testing.T) {
	l := Loader{IfaceAddrs: func(string) ([]netip.Prefix, error) { return nil, nil }}
	base := []string{"-i", "eth0", "-a", "198.18.0.10"}
	for _, tc := range []struct {
		args                []string
		vhid, base, skew, r int
	}{
		{[]string{"-v", "0x1d", "-b", "0X2", "-k", "0144", "-r", "07"}, 29, 2, 100, 7},
		{[]string{"-v", "035", "-b", "0", "-k", "100", "-r", "+3"}, 29, 0, 100, 3},
		{[]string{"-v29", "-b0", "-k100", "-r010"}, 29, 0, 100, 8},
		{[]string{"--vhid=0x1D", "--advbase= 1"}, 29, 1, 0, 3},
	} {
		f, err := l.FromArgs(append(tc.args, base...))
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		m := f.Routers[0].Machine
		got := []int{int(f.Routers[0].ID), int(m.AdvBase), int(m.AdvSkew), int(m.DeadRatio)}
		if diff := cmp.Diff([]int{tc.vhid, tc.base, tc.skew, tc.r}, got); diff != "" {
			t.Errorf("%q: vhid, advbase, advskew, deadratio (-want +got):\n%s", tc.args, diff)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-v", "29x"}, `-v/--vhid: "29x" is not an integer`},
		{[]string{"-v", "08"}, `-v/--vhid: "08" is not an integer`},
		{[]string{"-v", "0b11"}, `-v/--vhid: "0b11" is not an integer`},
		{[]string{"-v", "1_0"}, `-v/--vhid: "1_0" is not an integer`},
		{[]string{"-v", "-1"}, `-v/--vhid: -1 is out of range 1..255`},
		{[]string{"-v", "0x100"}, `-v/--vhid: 256 is out of range 1..255`},
		{[]string{"-v", "1", "-k", "0x1ffffffffffffffff"}, `-k/--advskew: 0x1ffffffffffffffff is out of range 0..255`},
		{[]string{"-v", "1", "-b", "0x"}, `-b/--advbase: "0x" is not an integer`},
	} {
		_, err := l.FromArgs(append(tc.args, base...))
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 || es[0].Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.args, err, tc.want)
		}
	}
	// --priority is carpd's own, and decimal like the YAML.
	_, err := l.FromArgs(append([]string{"--proto", "vrrp2", "-v", "1", "--priority", "0x10"}, base...))
	if err == nil || !strings.Contains(err.Error(), `--priority: "0x10" is not an integer`) {
		t.Errorf("--priority 0x10: %v, want it refused as decimal", err)
	}
}

// TestFromArgsMcastAliases: ucarp's long option is --mcastip (src/ucarp_p.h)
// and its help says -m; both mean --mcast.
func TestFromArgsMcastAliases(t *testing.T) {
	l := Loader{IfaceAddrs: func(string) ([]netip.Prefix, error) { return nil, nil }}
	for _, flag := range [][]string{{"--mcastip", "239.1.2.3"}, {"--mcastip=239.1.2.3"}, {"-m", "239.1.2.3"}, {"-m239.1.2.3"}, {"--mcast", "239.1.2.3"}} {
		f, err := l.FromArgs(append([]string{"-i", "eth0", "-v", "1", "-a", "198.18.0.10"}, flag...))
		if err != nil {
			t.Errorf("%q: %v", flag, err)
			continue
		}
		if g := f.Routers[0].Group; g != netip.MustParseAddr("239.1.2.3") {
			t.Errorf("%q: group %v, want 239.1.2.3", flag, g)
		}
	}
}

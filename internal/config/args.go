package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/spf13/pflag"
)

// ErrHelp is returned by FromArgs for -h/--help; print ArgsUsage.
var ErrHelp = errors.New("help requested")

// DefaultConfigFile is the file `carpd check` reads when given neither
// -c nor a ucarp command line, and the one scripts/carpd.service names.
const DefaultConfigFile = "/etc/carpd/carpd.yaml"

// args holds the command line as typed. Numbers stay strings so they are
// checked by the same code, with the same messages, as the YAML keys.
type args struct {
	config, iface, srcip, vhid, pass, passfile, advbase, advskew  string
	upscript, downscript, deadratio, xparam, facility, mcast      string
	proto, priority, interval, stateDir, name, vmacIface          string
	addrs, peers                                                  []string
	preempt, nopreempt, neutral, shutdown, ignoreIfState, nomcast bool
	daemonize, debug, vipByScripts, vmac                          bool
}

// Flags is a configuration command line bound to the pflag.FlagSet that
// parses it (AddFlags); FromFlags turns it into a File.
type Flags struct {
	a     args
	fs    *pflag.FlagSet
	names map[string]bool // the flags AddFlags registered, among the set's others
}

// AddFlags registers the configuration flags, ucarp's and carpd's own, on
// fs, so that cobra parses them for `carpd run` and `carpd check` (and
// completes them) along with the commands' other flags. The caller parses
// fs; FromFlags then reads the result.
func AddFlags(fs *pflag.FlagSet) *Flags {
	fl := &Flags{fs: fs, names: map[string]bool{}}
	before := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { before[f.Name] = true })
	addFlags(fs, &fl.a)
	fs.VisitAll(func(f *pflag.Flag) {
		if !before[f.Name] {
			fl.names[f.Name] = true
		}
	})
	// ucarp's getopt table names the group option "mcastip" (ucarp
	// src/ucarp_p.h); its --help says --mcast, which glibc's getopt_long
	// accepts only as an abbreviation of mcastip.
	prev := fs.GetNormalizeFunc()
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "mcastip" {
			return "mcast"
		}
		return prev(f, name)
	})
	return fl
}

func addFlags(fs *pflag.FlagSet, a *args) {
	fs.StringVarP(&a.config, "config", "c", "", "read the configuration from this YAML `FILE` instead of flags")
	fs.StringVarP(&a.iface, "interface", "i", "", "`IFACE` to speak on (required)")
	fs.StringVarP(&a.srcip, "srcip", "s", "", "source `ADDR` of advertisements (default: the interface's primary address)")
	fs.StringVarP(&a.vhid, "vhid", "v", "", "virtual router id `N` 1..255 (CARP vhid, VRRP vrid; required)")
	fs.StringVarP(&a.pass, "pass", "p", "", "password `PASS`: CARP HMAC key ≤ 19 bytes, VRRPv2 ≤ 8 (visible in ps: prefer -o)")
	fs.StringVarP(&a.passfile, "passfile", "o", "", "read the password from the first line of `FILE`")
	fs.BoolVarP(&a.preempt, "preempt", "P", false, "take over from a less preferred master (VRRP: the default)")
	fs.BoolVarP(&a.neutral, "neutral", "n", false, "do not run the down script when starting as backup")
	fs.StringArrayVarP(&a.addrs, "addr", "a", nil, "virtual address, `ADDR[/PREFIX]` (required; repeatable)")
	fs.StringVarP(&a.advbase, "advbase", "b", "", "CARP: advertisement base interval in seconds, `N` 0..255 (default 1); VRRP: the interval in seconds")
	fs.StringVarP(&a.advskew, "advskew", "k", "", "CARP: advertisement skew `N` 0..254 (default 0)")
	fs.StringVarP(&a.upscript, "upscript", "u", "", "run `SCRIPT` IFACE VIP [XPARAM] on becoming master")
	fs.StringVarP(&a.downscript, "downscript", "d", "", "run `SCRIPT` IFACE VIP [XPARAM] on leaving master")
	fs.StringVarP(&a.deadratio, "deadratio", "r", "", "CARP: master-down ratio `N` 1..255 (default 3)")
	fs.BoolVarP(&a.shutdown, "shutdown", "z", false, "accepted for ucarp; always on: down scripts run on SIGTERM")
	fs.BoolVarP(&a.ignoreIfState, "ignoreifstate", "S", false, "keep advertising when the interface is down")
	fs.BoolVarP(&a.nomcast, "nomcast", "M", false, "not supported (ucarp broadcast advertisements): use --peer")
	fs.StringVarP(&a.xparam, "xparam", "x", "", "extra argument `XPARAM` for the up and down scripts")
	fs.BoolVarP(&a.daemonize, "daemonize", "B", false, "detach and run in the background (ucarp -B); logs go to STATE_DIR/carpd.log")
	fs.StringVarP(&a.facility, "facility", "f", "", "syslog `FACILITY`: accepted for ucarp; carpd logs to standard error")
	fs.BoolVarP(&a.debug, "debug", "D", false, "debug logging")
	fs.StringVarP(&a.mcast, "mcast", "m", "", "multicast `GROUP` (default 224.0.0.18, ff02::12; also ucarp's --mcastip)")
	fs.StringVar(&a.proto, "proto", "carp", "protocol `PROTO`: carp, vrrp2 or vrrp3")
	fs.StringVar(&a.priority, "priority", "", "VRRP: priority `N` 1..255 (default 100)")
	fs.StringVar(&a.interval, "interval", "", "VRRP: advertisement interval `DURATION`, e.g. 1s, 100ms (vrrp3) (default 1s)")
	fs.BoolVar(&a.nopreempt, "nopreempt", false, "VRRP: do not preempt a less preferred master")
	fs.BoolVar(&a.vipByScripts, "vip-by-scripts", false, "leave adding and removing the VIPs to the scripts")
	fs.BoolVar(&a.vmac, "vmac", false, "hold the VIPs on a macvlan child with the virtual router MAC 00:00:5e:00:01:ID (keepalived use_vmac)")
	fs.StringVar(&a.vmacIface, "vmac-iface", "", "`NAME` of the --vmac interface (default vrrp.ID)")
	fs.StringArrayVar(&a.peers, "peer", nil, "unicast peer `ADDR` instead of multicast (repeatable)")
	fs.StringVar(&a.stateDir, "state-dir", DefaultStateDir, "state `DIR` for pid, state and socket files")
	fs.StringVar(&a.name, "name", "", "router `NAME` for notify and logs (default carpVHID / vrrpVRID)")
}

// newFlagSet is FromArgs's own set: the configuration flags and -h.
func newFlagSet(help *bool) (*pflag.FlagSet, *Flags) {
	fs := pflag.NewFlagSet("carpd run", pflag.ContinueOnError)
	fs.SortFlags = false
	fl := AddFlags(fs)
	fs.BoolVarP(help, "help", "h", false, "show this help")
	return fs, fl
}

// ArgsUsage describes the flags FromArgs accepts.
func ArgsUsage() string {
	var help bool
	fs, _ := newFlagSet(&help)
	return fs.FlagUsages()
}

// flagLabels names keys the way the command line spells them.
func flagLabels() map[string]string {
	return map[string]string{
		"iface": "-i/--interface", "srcip": "-s/--srcip", "vhid": "-v/--vhid", "vrid": "-v/--vhid",
		"password": "-p/--pass", "passfile": "-o/--passfile", "preempt": "-P/--preempt",
		"vips": "-a/--addr", "advbase": "-b/--advbase", "advskew": "-k/--advskew",
		"deadratio": "-r/--deadratio", "hooks.xparam": "-x/--xparam",
		"hooks.up": "-u/--upscript", "hooks.down": "-d/--downscript", "mcast": "--mcast",
		"proto": "--proto", "priority": "--priority", "interval": "--interval",
		"peers": "--peer", "name": "--name", "vip_by_scripts": "--vip-by-scripts",
		"vmac": "--vmac", "vmac_iface": "--vmac-iface",
	}
}

// FromArgs reads a command line: `-c FILE [--state-dir DIR] [-D]`, or a
// ucarp one-liner such as
//
//	-i eth0 -s 198.18.0.3 -v 29 -o /etc/ucarp/pass -a 198.18.0.2 -u up.sh -d down.sh -P -z
//
// with ucarp's meanings (ucarp src/ucarp.c and src/ucarp_p.h) plus --proto, --priority,
// --interval, --nopreempt, --vip-by-scripts, --peer, --state-dir, --name,
// --vmac, --vmac-iface.
// Errors name the flag; the File's Path is "" and the router's Line 0.
// On error the File is nil when the flags did not parse, and otherwise
// good only for its Warnings.
func (l Loader) FromArgs(argv []string) (*File, error) {
	var help bool
	fs, fl := newFlagSet(&help)
	fs.SetOutput(discard{})
	if err := fs.Parse(argv); err != nil {
		return nil, Errors{{Msg: err.Error()}}
	}
	if help {
		return nil, ErrHelp
	}
	return l.FromFlags(fl)
}

// FromFlags builds the configuration from flags parsed since AddFlags
// with the system Loader.
func FromFlags(fl *Flags) (*File, error) { return Loader{}.FromFlags(fl) }

// FromFlags builds the configuration from flags parsed since AddFlags,
// with FromArgs's meanings and messages. It may be called again, as a
// reload does: with -c it reads the file anew.
func (l Loader) FromFlags(fl *Flags) (*File, error) {
	fs, a := fl.fs, &fl.a
	p := &parser{}
	p.refuse(fs, a)
	if a.stateDir != "" && !filepath.IsAbs(a.stateDir) {
		p.errorf(0, "--state-dir: %q is not an absolute path", a.stateDir)
	}
	if a.config != "" {
		return l.fromFile(p, fl)
	}
	f := &File{StateDir: filepath.Clean(a.stateDir), Debug: a.debug, Daemonize: a.daemonize}
	s := p.specFromArgs(fs, a)
	return l.finish(p, f, []*spec{s})
}

// withFile lists the flags that may come with -c: they are not router
// settings.
var withFile = map[string]bool{
	"config": true, "state-dir": true, "debug": true, "facility": true, "shutdown": true, "nomcast": true,
	"daemonize": true,
}

// DefaultConfig makes FromFlags read path when the command line gave
// neither -c nor a router setting, as `carpd check` alone does.
func (fl *Flags) DefaultConfig(path string) {
	if fl.a.config != "" {
		return
	}
	router := false
	fl.fs.Visit(func(f *pflag.Flag) {
		if fl.names[f.Name] && !withFile[f.Name] {
			router = true
		}
	})
	if !router && len(fl.fs.Args()) == 0 {
		fl.a.config = path
	}
}

// refuse reports what carpd will not do, rather than ignoring it.
func (p *parser) refuse(fs *pflag.FlagSet, a *args) {
	if len(fs.Args()) > 0 {
		p.errorf(0, "unexpected argument %q: every setting is a flag", fs.Arg(0))
	}
	if a.nomcast {
		p.errorf(0, "-M/--nomcast (broadcast advertisements) is not supported: use unicast peers (--peer ADDR, once per peer) or --mcast GROUP")
	}
	if a.preempt && a.nopreempt {
		p.errorf(0, "-P/--preempt and --nopreempt contradict each other")
	}
}

// fromFile handles -c: only the flags that are not router settings may
// come with it.
func (l Loader) fromFile(p *parser, fl *Flags) (*File, error) {
	fs, a := fl.fs, &fl.a
	fs.Visit(func(f *pflag.Flag) {
		if !fl.names[f.Name] || withFile[f.Name] {
			return
		}
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + "/" + name
		}
		p.errorf(0, "%s cannot be combined with -c: put router settings in the file", name)
	})
	f, err := l.Load(a.config)
	if fs.Changed("state-dir") {
		f.StateDir = filepath.Clean(a.stateDir)
	}
	f.Debug = f.Debug || a.debug
	f.Daemonize = a.daemonize
	if len(p.errs) > 0 {
		if es, ok := err.(Errors); ok {
			p.errs = append(p.errs, es...)
		}
		return f, p.errs
	}
	return f, err
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// ucarpNumbers are the numeric flags ucarp has; it reads each with
// strtoul(optarg, NULL, 0) (ucarp src/ucarp.c: -v, -b, -k, -r), so they
// take C's notations. carpd's own --priority is decimal, like the YAML.
var ucarpNumbers = map[string]bool{"vhid": true, "advbase": true, "advskew": true, "deadratio": true}

// parseCInt reads s as C's strtoul(s, NULL, 0): leading white space, an
// optional sign, then 0x or 0X for hex, a leading 0 for octal, decimal
// otherwise; so 0x1d, 035 and 29 are all 29. Unlike strtoul, which
// ucarp calls with no end pointer, it refuses trailing characters ("29x")
// and values out of lo..hi where ucarp would cut them to an unsigned
// char, with parseInt's messages. Go's base-0 prefixes 0b and 0o and its
// digit separators are not C's, so ParseUint is given an explicit base.
func parseCInt(s string, lo, hi int) (int, error) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	n, err := strconv.ParseUint(t, base, 63)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of range %d..%d", strings.TrimSpace(s), lo, hi)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	v := int64(n)
	if neg {
		v = -v
	}
	return inRange(v, lo, hi)
}

// setInt parses a numeric flag into *dst, recording the key as given.
func (p *parser) setInt(s *spec, fs *pflag.FlagSet, flag, key, val string, lo, hi int, dst *int) {
	if !fs.Changed(flag) {
		return
	}
	s.at[key] = 0
	parse := parseInt
	if ucarpNumbers[flag] {
		parse = parseCInt
	}
	n, err := parse(val, lo, hi)
	if err != nil {
		p.errorf(0, "%s: %v", s.label(key), err)
		s.failed[key] = true
		return
	}
	*dst = n
}

func (p *parser) specFromArgs(fs *pflag.FlagSet, a *args) *spec {
	labels := flagLabels()
	s := newSpec(0, "")
	before := len(p.errs)
	defer func() { s.bad = len(p.errs) != before }()
	s.fromArgs = true
	s.label = func(k string) string {
		if l, ok := labels[k]; ok {
			return l
		}
		return k
	}
	p.proto(s, a.proto, 0)
	vrrp := s.r.Proto != carp.ProtoCARP
	idKey := map[bool]string{false: "vhid", true: "vrid"}[vrrp]
	p.setInt(s, fs, "vhid", idKey, a.vhid, 1, 255, &s.id)
	p.setInt(s, fs, "advskew", "advskew", a.advskew, 0, 255, &s.advskew)
	p.setInt(s, fs, "deadratio", "deadratio", a.deadratio, 1, 255, &s.deadratio)
	p.setInt(s, fs, "priority", "priority", a.priority, 1, 255, &s.priority)
	p.argInterval(s, fs, a, vrrp)
	p.argStrings(s, fs, a)
	p.argAddrs(s, fs, a)
	s.preempt = a.preempt || (vrrp && !a.nopreempt)
	if a.preempt || a.nopreempt || vrrp {
		s.at["preempt"] = 0
	}
	s.r.IgnoreIfState, s.r.Neutral, s.r.VIPByScripts = a.ignoreIfState, a.neutral, a.vipByScripts
	return s
}

// argInterval maps -b: CARP advbase, or for VRRP the interval in seconds
// (keepalived advert_int), unless --interval gives it as a duration.
func (p *parser) argInterval(s *spec, fs *pflag.FlagSet, a *args, vrrp bool) {
	if !vrrp {
		p.setInt(s, fs, "advbase", "advbase", a.advbase, 0, 255, &s.advbase)
		if fs.Changed("interval") {
			s.at["interval"] = 0
		}
		return
	}
	switch {
	case fs.Changed("advbase") && fs.Changed("interval"):
		p.errorf(0, "-b/--advbase and --interval both set the VRRP interval: give one")
	case fs.Changed("advbase"):
		old := s.label
		s.label = func(k string) string {
			if k == "interval" {
				return "-b/--advbase"
			}
			return old(k)
		}
		var secs int
		p.setInt(s, fs, "advbase", "interval", a.advbase, 1, 255, &secs)
		s.interval = time.Duration(secs) * time.Second
	case fs.Changed("interval"):
		s.at["interval"] = 0
		d, err := parseDuration(a.interval)
		if err != nil {
			p.errorf(0, "--interval: %v", err)
			s.failed["interval"] = true
		}
		s.interval = d
	}
}

func (p *parser) argStrings(s *spec, fs *pflag.FlagSet, a *args) {
	if fs.Changed("interface") {
		s.at["iface"], s.r.Iface = 0, a.iface
	}
	if fs.Changed("name") {
		s.at["name"], s.r.Name = 0, a.name
	}
	if fs.Changed("pass") {
		s.at["password"], s.password = 0, a.pass
		p.warnf("-p/--pass puts the password in the process list (ps, /proc/PID/cmdline): use -o FILE with mode 0600")
	}
	if fs.Changed("passfile") {
		s.at["passfile"], s.r.Passfile = 0, a.passfile
	}
	if a.upscript != "" {
		s.at["hooks.up"], s.r.Hooks.Up = 0, []string{a.upscript}
	}
	if a.downscript != "" {
		s.at["hooks.down"], s.r.Hooks.Down = 0, []string{a.downscript}
	}
	if fs.Changed("xparam") {
		s.at["hooks.xparam"], s.r.Hooks.XParam = 0, a.xparam
	}
	if fs.Changed("vmac") {
		s.at["vmac"], s.r.VMAC = 0, a.vmac
	}
	if fs.Changed("vmac-iface") {
		s.at["vmac_iface"], s.r.VMACIface = 0, a.vmacIface
	}
}

func (p *parser) argAddrs(s *spec, fs *pflag.FlagSet, a *args) {
	if fs.Changed("addr") {
		s.at["vips"] = 0
	}
	for _, v := range a.addrs {
		p.vip(s, strings.TrimSpace(v), 0)
	}
	for _, v := range a.peers {
		ad, err := parseAddr(v)
		if err != nil {
			p.errorf(0, "--peer: %v", err)
			continue
		}
		s.r.Peers = append(s.r.Peers, ad)
		s.peerLines = append(s.peerLines, 0)
	}
	if fs.Changed("srcip") {
		s.at["srcip"] = 0
		var err error
		if s.r.SrcIP, err = parseAddr(a.srcip); err != nil {
			p.errorf(0, "-s/--srcip: %v", err)
			s.failed["srcip"] = true
		}
	}
	if fs.Changed("mcast") {
		s.at["mcast"] = 0
		var err error
		if s.r.Group, err = parseAddr(a.mcast); err != nil {
			p.errorf(0, "--mcast: %v", err)
			s.failed["mcast"] = true
		}
	}
}

package config

import (
	"time"

	"github.com/carpd/carpd/carp"
	"go.yaml.in/yaml/v3"
)

// spec is one router as written, before defaults. at records which keys
// were given and on which line, so the protocol-dependent rules in build
// can tell "not given" from "given as zero" and point at the key.
type spec struct {
	r     Router
	line  int
	at    map[string]int
	label func(key string) string // how the user spelt a key (flag names on the command line)
	dir   string                  // base for a relative passfile or program

	id, advbase, advskew, deadratio, priority    int
	down                                         carp.DownFormula
	demote                                       carp.DemoteMode
	tiebreak, preempt, v3AsV2                    bool
	interval, preemptDelay                       time.Duration
	password                                     string
	vipLines, peerLines, trackLines, acceptLines []int
	fromArgs                                     bool
	bad                                          bool            // a key failed to parse
	failed                                       map[string]bool // keys whose value was refused
}

func newSpec(line int, dir string) *spec {
	return &spec{
		line:   line,
		at:     map[string]int{},
		failed: map[string]bool{},
		label:  func(k string) string { return k },
		dir:    dir,
		r: Router{
			Proto: carp.ProtoCARP,
			GARP:  GARP{Repeat: DefaultGARPRepeat, Interval: DefaultGARPInterval, Delay: DefaultGARPDelay},
			Hooks: Hooks{Timeout: DefaultHookTimeout},
			Line:  line,

			UnicastTTLCheck: true,
		},
	}
}

// given reports whether key was set to a usable value, and where. A key
// whose value was refused counts as not given, so one mistake is reported
// once rather than again by every rule that reads the value.
func (s *spec) given(key string) (int, bool) {
	l, ok := s.at[key]
	return l, ok && !s.failed[key]
}

// present reports whether key was written at all, for "is required".
func (s *spec) present(key string) bool {
	_, ok := s.at[key]
	return ok
}

// lineOf is the line of key, or of the router when the key is absent.
func (s *spec) lineOf(key string) int {
	if l, ok := s.at[key]; ok {
		return l
	}
	return s.line
}

func routerKeys() []string {
	return []string{
		"name", "iface", "proto", "vhid", "vrid", "advbase", "advskew", "deadratio",
		"down_formula", "demote_mode", "tiebreak_ip", "priority", "interval", "preempt",
		"preempt_delay", "vips", "password", "passfile", "srcip", "peers", "mcast", "accept_from",
		"unicast_ttl_check",
		"v3_checksum_as_v2", "ignore_ifstate", "vip_by_scripts", "neutral", "garp", "hooks",
		"track_interface", "track_script", "vmac", "vmac_iface", "split_brain",
	}
}

// router reads one entry of routers:.
func (p *parser) router(n *yaml.Node, dir string) *spec {
	s := newSpec(resolve(n).Line, dir)
	before := len(p.errs)
	defer func() { s.bad = len(p.errs) != before }()
	p.fields("router", n, routerKeys(), func(key string, k, v *yaml.Node) {
		s.at[key] = k.Line
		n := len(p.errs)
		if !p.routerScalar(s, key, v) {
			p.routerCompound(s, key, v)
		}
		s.failed[key] = len(p.errs) != n
	})
	return s
}

// routerScalar handles the keys holding one value; it reports false for
// the others.
func (p *parser) routerScalar(s *spec, key string, v *yaml.Node) bool {
	switch key {
	case "name":
		s.r.Name, _ = p.str(key, v)
	case "iface":
		s.r.Iface, _ = p.str(key, v)
	case "proto":
		if t, ok := p.str(key, v); ok {
			p.proto(s, t, v.Line)
		}
	case "vhid", "vrid":
		s.id, _ = p.integer(key, v, 1, 255)
	case "advbase":
		s.advbase, _ = p.integer(key, v, 0, 255)
	case "advskew":
		s.advskew, _ = p.integer(key, v, 0, 255)
	case "deadratio":
		s.deadratio, _ = p.integer(key, v, 1, 255)
	case "priority":
		s.priority, _ = p.integer(key, v, 1, 255)
	case "down_formula":
		if t, ok := p.str(key, v); ok {
			p.downFormula(s, t, v.Line)
		}
	case "demote_mode":
		if t, ok := p.str(key, v); ok {
			p.demoteMode(s, t, v.Line)
		}
	case "password":
		s.password, _ = p.str(key, v)
	case "passfile":
		s.r.Passfile, _ = p.str(key, v)
	case "interval":
		s.interval, _ = p.duration(key, v)
	case "preempt_delay":
		s.preemptDelay, _ = p.duration(key, v)
	default:
		return false
	}
	return true
}

func (p *parser) routerCompound(s *spec, key string, v *yaml.Node) {
	switch key {
	case "tiebreak_ip":
		s.tiebreak, _ = p.boolean(key, v)
	case "preempt":
		s.preempt, _ = p.boolean(key, v)
	case "v3_checksum_as_v2":
		s.v3AsV2, _ = p.boolean(key, v)
	case "ignore_ifstate":
		s.r.IgnoreIfState, _ = p.boolean(key, v)
	case "vip_by_scripts":
		s.r.VIPByScripts, _ = p.boolean(key, v)
	case "neutral":
		s.r.Neutral, _ = p.boolean(key, v)
	case "vmac":
		s.r.VMAC, _ = p.boolean(key, v)
	case "vmac_iface":
		s.r.VMACIface, _ = p.str(key, v)
	case "split_brain":
		if m, ok := p.enum(key, v, "resolve", "report", "off"); ok {
			s.r.SplitBrain = map[string]carp.SplitMode{"resolve": carp.SplitResolve, "report": carp.SplitReport,
				"off": carp.SplitOff}[m]
		}
	case "srcip":
		s.r.SrcIP, _ = p.addr(key, v)
	case "mcast":
		s.r.Group, _ = p.addr(key, v)
	case "vips":
		if r := resolve(v); r.Kind == yaml.SequenceNode && len(r.Content) == 0 {
			p.errorf(v.Line, "vips: at least one virtual address is required")
		}
		p.list(key, v, func(it *yaml.Node) {
			if t, ok := p.str(key, it); ok {
				p.vip(s, t, it.Line)
			}
		})
	case "peers":
		p.list(key, v, func(it *yaml.Node) {
			if a, ok := p.addr(key, it); ok {
				s.r.Peers = append(s.r.Peers, a)
				s.peerLines = append(s.peerLines, it.Line)
			}
		})
	case "accept_from":
		p.list(key, v, func(it *yaml.Node) {
			if t, ok := p.str(key, it); ok {
				p.acceptFrom(s, t, it.Line)
			}
		})
	case "unicast_ttl_check":
		s.r.UnicastTTLCheck, _ = p.boolean(key, v)
	case "garp":
		p.garp(s, v)
	case "hooks":
		p.hooks(s, v)
	case "track_interface":
		p.list(key, v, func(it *yaml.Node) { p.trackInterface(s, it) })
	case "track_script":
		p.list(key, v, func(it *yaml.Node) { p.trackScript(s, it) })
	}
}

// The setters below are shared with the command line, which passes line 0.

func (p *parser) proto(s *spec, t string, line int) {
	switch t {
	case "carp":
		s.r.Proto = carp.ProtoCARP
	case "vrrp2":
		s.r.Proto = carp.ProtoVRRP2
	case "vrrp3":
		s.r.Proto = carp.ProtoVRRP3
	default:
		p.errorf(line, "%s: %q is not carp, vrrp2 or vrrp3", s.label("proto"), t)
	}
}

func (p *parser) downFormula(s *spec, t string, line int) {
	switch t {
	case "freebsd":
		s.down = carp.DownFreeBSD
	case "openbsd":
		s.down = carp.DownOpenBSD
	default:
		p.errorf(line, "%s: %q is not freebsd or openbsd", s.label("down_formula"), t)
	}
}

func (p *parser) demoteMode(s *spec, t string, line int) {
	switch t {
	case "skew":
		s.demote = carp.DemoteSkew
	case "byte":
		s.demote = carp.DemoteByte
	default:
		p.errorf(line, "%s: %q is not skew or byte", s.label("demote_mode"), t)
	}
}

func (p *parser) vip(s *spec, t string, line int) {
	v, err := parseVIP(t)
	if err != nil {
		p.errorf(line, "%s: %v", s.label("vips"), err)
		return
	}
	s.r.VIPs = append(s.r.VIPs, v)
	s.vipLines = append(s.vipLines, line)
}

// durationIn reads a duration and checks lo..hi; zero is allowed as "off"
// when zeroOK.
func (p *parser) durationIn(key string, n *yaml.Node, lo, hi time.Duration, zeroOK bool) (time.Duration, bool) {
	d, ok := p.duration(key, n)
	if !ok {
		return 0, false
	}
	if d == 0 && zeroOK {
		return 0, true
	}
	if d < lo || d > hi {
		off := ""
		if zeroOK {
			off = " (or 0 for off)"
		}
		p.errorf(n.Line, "%s: %v is out of range %v..%v%s", key, d, lo, hi, off)
		return 0, false
	}
	return d, true
}

func (p *parser) garp(s *spec, n *yaml.Node) {
	g := &s.r.GARP
	p.fields("garp", n, []string{"repeat", "interval", "refresh", "delay"}, func(k string, _, v *yaml.Node) {
		key := "garp." + k
		switch k {
		case "repeat":
			g.Repeat, _ = p.integer(key, v, 0, 255)
		case "interval":
			g.Interval, _ = p.durationIn(key, v, 10*time.Millisecond, 10*time.Second, true)
		case "refresh":
			g.Refresh, _ = p.durationIn(key, v, time.Second, 24*time.Hour, true)
		case "delay":
			g.Delay, _ = p.durationIn(key, v, time.Second, time.Hour, true)
		}
	})
}

func (p *parser) hooks(s *spec, n *yaml.Node) {
	h := &s.r.Hooks
	keys := []string{"up", "down", "notify", "master", "backup", "fault", "stop", "xparam", "timeout"}
	p.fields("hooks", n, keys, func(name string, k, v *yaml.Node) {
		key := "hooks." + name
		s.at[key] = k.Line
		switch name {
		case "up":
			h.Up, _ = p.argv(key, v)
		case "down":
			h.Down, _ = p.argv(key, v)
		case "notify":
			h.Notify, _ = p.argv(key, v)
		case "master":
			h.Master, _ = p.argv(key, v)
		case "backup":
			h.Backup, _ = p.argv(key, v)
		case "fault":
			h.Fault, _ = p.argv(key, v)
		case "stop":
			h.Stop, _ = p.argv(key, v)
		case "xparam":
			h.XParam, _ = p.str(key, v)
		case "timeout":
			h.Timeout, _ = p.durationIn(key, v, time.Second, time.Hour, false)
		}
	})
}

func (p *parser) trackInterface(s *spec, n *yaml.Node) {
	var t TrackInterface
	ok := p.fields("track_interface", n, []string{"iface", "weight"}, func(k string, _, v *yaml.Node) {
		key := "track_interface." + k
		switch k {
		case "iface":
			if t.Iface, _ = p.str(key, v); t.Iface != "" {
				if err := checkIface(t.Iface); err != nil {
					p.errorf(v.Line, "%s: %v", key, err)
				}
			}
		case "weight":
			t.Weight, _ = p.integer(key, v, -253, 253)
		}
	})
	if ok && t.Iface == "" {
		p.errorf(resolve(n).Line, "track_interface: iface is required")
	}
	s.r.TrackInterfaces = append(s.r.TrackInterfaces, t)
}

func (p *parser) trackScript(s *spec, n *yaml.Node) {
	t := TrackScript{Interval: DefaultTrackInterval, Rise: DefaultTrackRise, Fall: DefaultTrackFall}
	var timeoutSet, argvSet, argvOK bool
	keys := []string{"name", "argv", "interval", "timeout", "rise", "fall", "weight"}
	ok := p.fields("track_script", n, keys, func(k string, _, v *yaml.Node) {
		key := "track_script." + k
		switch k {
		case "name":
			if t.Name, _ = p.str(key, v); t.Name != "" {
				if err := checkName(t.Name); err != nil {
					p.errorf(v.Line, "%s: %v", key, err)
				}
			}
		case "argv":
			argvSet = true
			t.Argv, argvOK = p.argv(key, v)
		case "interval":
			t.Interval, _ = p.durationIn(key, v, 100*time.Millisecond, time.Hour, false)
		case "timeout":
			t.Timeout, timeoutSet = p.durationIn(key, v, 100*time.Millisecond, time.Hour, false)
		case "rise":
			t.Rise, _ = p.integer(key, v, 1, 255)
		case "fall":
			t.Fall, _ = p.integer(key, v, 1, 255)
		case "weight":
			t.Weight, _ = p.integer(key, v, -253, 253)
		}
	})
	line := resolve(n).Line
	if ok && (!argvSet || argvOK && t.Argv == nil) {
		p.errorf(line, "track_script.argv: the program to run is required")
	}
	if !timeoutSet {
		t.Timeout = t.Interval
	}
	s.r.TrackScripts = append(s.r.TrackScripts, t)
	s.trackLines = append(s.trackLines, line)
}

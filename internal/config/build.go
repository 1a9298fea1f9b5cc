package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/secret"
)

// Protocol limits checked here rather than left to carp.Config.Validate,
// so the message can point at the key.
const (
	maxCARPPass  = 19 // carp.NewAuth, ucarp
	maxVRRP2Pass = 8  // VRRPv2 auth data, keepalived auth_pass
	v3Tick       = 10 * time.Millisecond
	v3MaxInt     = 4095 * v3Tick
)

// build applies defaults and the rules that depend on the protocol. It
// reports false when the router has any error.
func (p *parser) build(s *spec) (Router, bool) {
	before := len(p.errs)
	r := s.r
	if s.failed["proto"] {
		// The protocol is unknown: every rule that depends on it would
		// only repeat the mistake, against keys that may well be right.
		p.checkIdentity(s, &r)
		p.addresses(s, &r)
		p.hookRules(s, &r)
		return r, false
	}
	vrrp := r.Proto != carp.ProtoCARP
	p.checkKeysFor(s, vrrp)
	p.checkIdentity(s, &r)
	m := carp.DefaultConfig(r.Proto, r.ID)
	if vrrp {
		p.vrrpTiming(s, &m)
	} else {
		p.carpTiming(s, &m)
	}
	if _, ok := s.given("preempt"); ok {
		m.Preempt = s.preempt
	}
	// keepalived skips the TTL check for unicast_peer; carpd keeps it
	// unless told the peers are routed, since without it one packet from
	// anywhere on the Internet path can reach the machine.
	m.IgnoreTTL = len(r.Peers) > 0 && !r.UnicastTTLCheck
	r.V3PseudoHeader = !s.v3AsV2
	p.password(s, &r)
	p.addresses(s, &r)
	p.hookRules(s, &r)
	p.vmacRules(s, &r)
	if len(p.errs) != before || s.bad {
		return r, false
	}
	// Validate needs an address; the daemon sets the real one.
	m.Addr = r.VIPs[0].Addr()
	if err := m.Validate(); err != nil {
		p.errorf(s.line, "%v", err)
		return r, false
	}
	m.Addr = netip.Addr{}
	r.Machine = m
	return r, true
}

// checkKeysFor refuses keys of the other protocol instead of ignoring them.
func (p *parser) checkKeysFor(s *spec, vrrp bool) {
	carpOnly := []string{"vhid", "advbase", "advskew", "deadratio", "down_formula", "demote_mode", "tiebreak_ip"}
	vrrpOnly := []string{"vrid", "priority", "interval", "preempt_delay"}
	wrong, other := carpOnly, "carp"
	if !vrrp {
		wrong, other = vrrpOnly, "vrrp"
	}
	for _, k := range wrong {
		if l, ok := s.given(k); ok {
			p.errorf(l, "%s is a %s setting, not allowed with %s %s%s", s.label(k), other, s.label("proto"), s.r.Proto, instead(k))
		}
	}
	if l, ok := s.given("v3_checksum_as_v2"); ok && s.r.Proto != carp.ProtoVRRP3 {
		p.errorf(l, "%s applies to vrrp3 only, not %s", s.label("v3_checksum_as_v2"), s.r.Proto)
	}
}

func instead(key string) string {
	switch key {
	case "vhid":
		return "; VRRP uses vrid"
	case "vrid":
		return "; CARP uses vhid"
	case "advbase":
		return "; VRRP uses interval"
	case "interval":
		return "; CARP uses advbase"
	case "priority":
		return "; CARP uses advskew"
	case "advskew":
		return "; VRRP uses priority"
	}
	return ""
}

func (p *parser) checkIdentity(s *spec, r *Router) {
	idKey := "vhid"
	if r.Proto != carp.ProtoCARP {
		idKey = "vrid"
	}
	switch {
	case s.failed["proto"]:
		if !s.present("vhid") && !s.present("vrid") {
			p.errorf(s.line, "%s or %s is required", s.label("vhid"), s.label("vrid"))
		}
	case !s.present(idKey):
		p.errorf(s.line, "%s is required", s.label(idKey))
	}
	r.ID = uint8(s.id)
	if !s.present("iface") {
		p.errorf(s.line, "%s is required", s.label("iface"))
	} else if r.Iface != "" {
		if err := checkIface(r.Iface); err != nil {
			p.errorf(s.lineOf("iface"), "%s: %v", s.label("iface"), err)
		}
	}
	if _, ok := s.given("name"); !ok {
		if r.ID != 0 {
			// With an unknown proto the id key written says which it was.
			isCARP := r.Proto == carp.ProtoCARP && !s.failed["proto"] || s.failed["proto"] && s.present("vhid")
			r.Name = fmt.Sprintf("%s%d", map[bool]string{true: "carp", false: "vrrp"}[isCARP], r.ID)
		}
	} else if err := checkName(r.Name); err != nil {
		p.errorf(s.lineOf("name"), "%s: %v", s.label("name"), err)
	}
}

func (p *parser) carpTiming(s *spec, m *carp.Config) {
	if _, ok := s.given("advbase"); ok {
		m.AdvBase = uint8(s.advbase)
	}
	if _, ok := s.given("advskew"); ok {
		m.AdvSkew = uint8(s.advskew)
	}
	if _, ok := s.given("deadratio"); ok {
		m.DeadRatio = uint8(s.deadratio)
	}
	m.Down, m.Demote, m.TieBreakIP = s.down, s.demote, s.tiebreak
	if m.AdvSkew == 255 {
		// OpenBSD and FreeBSD reject advskew ≥ 255; 255/255 is the bow-out.
		p.errorf(s.lineOf("advskew"), "%s: 255 is reserved for the bow-out advertisement (0..254)", s.label("advskew"))
	}
	if m.AdvBase == 0 && m.AdvSkew == 0 {
		// ucarp refuses it; OpenBSD would advertise 256 times a second.
		p.errorf(s.lineOf("advbase"), "%s: 0 needs a non-zero %s", s.label("advbase"), s.label("advskew"))
	}
}

func (p *parser) vrrpTiming(s *spec, m *carp.Config) {
	if _, ok := s.given("priority"); ok {
		m.Priority = uint8(s.priority)
	}
	m.PreemptDelay = s.preemptDelay
	if m.PreemptDelay > 1000*time.Second {
		p.errorf(s.lineOf("preempt_delay"), "%s: %v is out of range 0s..1000s (keepalived preempt_delay)", s.label("preempt_delay"), m.PreemptDelay)
	}
	l, ok := s.given("interval")
	if !ok {
		return
	}
	m.Interval = s.interval
	d := s.interval
	switch {
	case s.r.Proto == carp.ProtoVRRP2 && (d%time.Second != 0 || d < time.Second || d > 255*time.Second):
		// RFC 3768 §5.3.7: Adver Int is whole seconds.
		p.errorf(l, "%s: %v is not whole seconds in 1s..255s (vrrp2)", s.label("interval"), d)
	case s.r.Proto == carp.ProtoVRRP3 && (d%v3Tick != 0 || d < v3Tick || d > v3MaxInt):
		// RFC 5798 §5.2.7: Max Adver Int is 12 bits of centiseconds.
		p.errorf(l, "%s: %v is not a multiple of 10ms in 10ms..40.95s (vrrp3)", s.label("interval"), d)
	}
}

func (p *parser) password(s *spec, r *Router) {
	lp, hasPass := s.given("password")
	lf, hasFile := s.given("passfile")
	if hasPass && hasFile {
		p.errorf(lf, "%s and %s exclude each other", s.label("password"), s.label("passfile"))
		return
	}
	if !hasPass && !hasFile {
		return
	}
	line, key := lp, "password"
	if hasFile {
		line, key = lf, "passfile"
	}
	if r.Proto == carp.ProtoVRRP3 {
		p.errorf(line, "%s: vrrp3 has no authentication (RFC 5798 removed it)", s.label(key))
		return
	}
	pass := s.password
	if hasFile {
		if r.Passfile == "" {
			return // already reported
		}
		if !filepath.IsAbs(r.Passfile) && s.dir != "" {
			r.Passfile = filepath.Join(s.dir, r.Passfile)
		}
		var err error
		if pass, err = p.readPassfile(r.Passfile); err != nil {
			p.errorf(line, "%s: %v", s.label(key), err)
			return
		}
	}
	max, what := maxCARPPass, "carp (HMAC key)"
	if r.Proto == carp.ProtoVRRP2 {
		max, what = maxVRRP2Pass, "vrrp2 (auth_type PASS)"
	}
	switch {
	case pass == "":
		p.errorf(line, "%s: the password is empty; leave the key out for no authentication", s.label(key))
	case len(pass) > max:
		// Never echo the password: its length is enough to act on.
		p.errorf(line, "%s: the password is %d bytes, at most %d allowed for %s", s.label(key), len(pass), max, what)
	default:
		r.Password = secret.Secret(pass)
	}
}

func (p *parser) hookRules(s *spec, r *Router) {
	if r.VIPByScripts && r.Hooks.Up == nil {
		p.warnf("router %s: %s is set but there is no up hook: nothing will add the VIPs", r.Name, s.label("vip_by_scripts"))
	}
	if r.Hooks.XParam != "" && r.Hooks.Up == nil && r.Hooks.Down == nil {
		p.errorf(s.lineOf("hooks.xparam"), "%s is passed to the up and down hooks, and there are none", s.label("hooks.xparam"))
	}
	seen := map[string]int{}
	for i := range r.TrackScripts {
		t := &r.TrackScripts[i]
		if t.Name == "" && len(t.Argv) > 0 {
			t.Name = filepath.Base(t.Argv[0])
		}
		if prev, dup := seen[t.Name]; dup && t.Name != "" {
			p.errorf(s.trackLines[i], "track_script: name %q already used at line %d; set distinct names", t.Name, prev)
		}
		seen[t.Name] = s.trackLines[i]
	}
	for _, k := range []struct {
		key  string
		argv *[]string
	}{
		{"hooks.up", &r.Hooks.Up}, {"hooks.down", &r.Hooks.Down}, {"hooks.notify", &r.Hooks.Notify},
		{"hooks.master", &r.Hooks.Master}, {"hooks.backup", &r.Hooks.Backup},
		{"hooks.fault", &r.Hooks.Fault}, {"hooks.stop", &r.Hooks.Stop},
	} {
		p.program(s, s.label(k.key), s.lineOf(k.key), k.argv)
	}
	for i := range r.TrackScripts {
		p.program(s, "track_script "+r.TrackScripts[i].Name, s.trackLines[i], &r.TrackScripts[i].Argv)
	}
}

// program makes argv[0] the absolute path of a program carpd may run as
// root. A relative path is relative to the file's directory, as a
// passfile is; on the command line to the working directory, where
// ucarp's execl finds it, a bare name included. A bare name in a file is
// looked up in SafePath, the PATH hooks run with.
func (p *parser) program(s *spec, key string, line int, argv *[]string) {
	if len(*argv) == 0 {
		return
	}
	name := (*argv)[0]
	if !filepath.IsAbs(name) && (s.fromArgs || strings.Contains(name, "/")) {
		abs, err := filepath.Abs(filepath.Join(s.dir, name))
		if err != nil {
			p.errorf(line, "%s: resolving %s: %v", key, name, err)
			return
		}
		name = abs
	}
	path, err := p.script(name)
	if err != nil {
		p.errorf(line, "%s: refusing to run it: %v", key, err)
		return
	}
	*argv = append([]string{path}, (*argv)[1:]...)
}

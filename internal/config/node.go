package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// parser collects every problem of one load instead of stopping at the
// first, so a user fixes a file in one round.
type parser struct {
	file       string
	errs       Errors
	warns      []string
	brokerSpec *brokerSpec // the broker section, if any
	script     func(name string) (string, error)
	root       string // Loader.Root
}

func (p *parser) errorf(line int, format string, a ...any) {
	p.errs = append(p.errs, Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// where prefixes a warning about router name: FILE:LINE in a file, the
// router's name on a command line, which has no lines.
func (p *parser) where(line int, name string) string {
	if p.file == "" || line == 0 {
		return "router " + name
	}
	return fmt.Sprintf("%s:%d", p.file, line)
}

func (p *parser) warnf(format string, a ...any) {
	p.warns = append(p.warns, fmt.Sprintf(format, a...))
}

// resolve follows aliases, so anchors shared between routers work.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// kind names what a node is, for "expected X, got Y" messages; scalars are
// described by type, never by value, because the value may be a password.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "no value"
		case "!!int":
			return "an integer"
		case "!!bool":
			return "a boolean"
		case "!!float":
			return "a number"
		}
		return "a string"
	}
	return "nothing"
}

// scalar returns the text of a scalar as written, refusing lists, mappings
// and empty values.
func (p *parser) scalar(key string, n *yaml.Node, want string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.errorf(n.Line, "%s: expected %s, got %s", key, want, kind(n))
		return "", false
	}
	return n.Value, true
}

// str accepts any scalar as written: `password: 12345678` is the string
// the user typed, not the number.
func (p *parser) str(key string, n *yaml.Node) (string, bool) {
	return p.scalar(key, n, "a string")
}

func (p *parser) integer(key string, n *yaml.Node, lo, hi int) (int, bool) {
	s, ok := p.scalar(key, n, "an integer")
	if !ok {
		return 0, false
	}
	if t := resolve(n).ShortTag(); t != "!!int" {
		p.errorf(n.Line, "%s: expected an integer, got %s", key, kind(resolve(n)))
		return 0, false
	}
	var n64 int64
	if err := resolve(n).Decode(&n64); err != nil {
		p.errorf(n.Line, "%s: %q is not an integer in range %d..%d", key, s, lo, hi)
		return 0, false
	}
	v, err := inRange(n64, lo, hi)
	if err != nil {
		p.errorf(n.Line, "%s: %v", key, err)
		return 0, false
	}
	return v, true
}

func (p *parser) boolean(key string, n *yaml.Node) (bool, bool) {
	s, ok := p.scalar(key, n, "true or false")
	if !ok {
		return false, false
	}
	if r := resolve(n); r.ShortTag() != "!!bool" {
		p.errorf(n.Line, "%s: %s", key, notBool(r))
		return false, false
	}
	var b bool
	if err := resolve(n).Decode(&b); err != nil {
		p.errorf(n.Line, "%s: %q is not true or false", key, s)
		return false, false
	}
	return b, true
}

// notBool explains a scalar that is not a YAML 1.2 boolean. yaml.v3
// resolves yes/no/on/off (YAML 1.1 booleans) as strings, and would turn
// them into a bool only when decoding into a Go bool; carpd reads the
// node's tag, so that a file means the same to every YAML 1.2 reader.
func notBool(n *yaml.Node) string {
	if n.ShortTag() == "!!str" {
		switch v := n.Value; strings.ToLower(v) {
		case "yes", "y", "on":
			if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
				return v + " is a string in YAML 1.2; write true"
			}
		case "no", "n", "off":
			if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
				return v + " is a string in YAML 1.2; write false"
			}
		case "true", "false":
			return "quoted " + v + " is a string; write " + strings.ToLower(v) + " without quotes"
		}
	}
	return "expected true or false, got " + kind(n)
}

// duration takes a Go duration string; a bare 0 is allowed because "off"
// needs no unit, any other bare number is refused as ambiguous.
func (p *parser) duration(key string, n *yaml.Node) (time.Duration, bool) {
	s, ok := p.scalar(key, n, "a duration")
	if !ok {
		return 0, false
	}
	if resolve(n).ShortTag() == "!!int" && s == "0" {
		return 0, true
	}
	d, err := parseDuration(s)
	if err != nil {
		p.errorf(n.Line, "%s: %v", key, err)
		return 0, false
	}
	return d, true
}

func (p *parser) addr(key string, n *yaml.Node) (netip.Addr, bool) {
	s, ok := p.scalar(key, n, "an IP address")
	if !ok {
		return netip.Addr{}, false
	}
	a, err := parseAddr(s)
	if err != nil {
		p.errorf(n.Line, "%s: %v", key, err)
		return netip.Addr{}, false
	}
	return a, true
}

// list calls fn for every item of a sequence.
func (p *parser) list(key string, n *yaml.Node, fn func(item *yaml.Node)) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s: expected a list, got %s", key, kind(n))
		return
	}
	for _, it := range n.Content {
		fn(it)
	}
}

// argv reads a list of strings; a single string is refused, so nobody
// mistakes a hook for a shell command line.
func (p *parser) argv(key string, n *yaml.Node) ([]string, bool) {
	if r := resolve(n); r.Kind == yaml.ScalarNode && r.ShortTag() != "!!null" {
		p.errorf(n.Line, "%s: expected a list (argv, e.g. [/etc/carpd/up.sh, arg]), got %s", key, kind(r))
		return nil, false
	}
	var out []string
	ok := true
	p.list(key, n, func(it *yaml.Node) {
		s, good := p.str(key, it)
		ok = ok && good
		out = append(out, s)
	})
	if !ok || resolve(n).Kind != yaml.SequenceNode {
		return nil, false
	}
	if len(out) == 0 {
		return nil, true // [] means no hook, as WriteNormalized writes it
	}
	if err := checkArgv(out); err != nil {
		p.errorf(n.Line, "%s: %v", key, err)
		return nil, false
	}
	return out, true
}

// fields walks a mapping, refusing duplicate and unknown keys, and hands
// each known key's value to fn. what names the mapping in messages.
func (p *parser) fields(what string, n *yaml.Node, known []string, fn func(key string, k, v *yaml.Node)) bool {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s: expected a mapping, got %s", what, kind(n))
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "%s: keys must be strings, got %s", what, kind(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k.Line, "%s: key %q repeated (first at line %d)", what, k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		if !contains(known, k.Value) {
			p.errorf(k.Line, "%s: unknown key %q%s", what, k.Value, hint(what, k.Value, known))
			continue
		}
		fn(k.Value, k, v)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hint suggests the key meant: first the keys people bring from
// keepalived and ucarp (router and top level), or the spelling of another
// section (broker.probe.addr is peer: broker.addr is the local broker's),
// then the one known key of the section within a small edit distance.
func hint(what, key string, known []string) string {
	var ours map[string]string
	switch what {
	case "router", "top level":
		ours = map[string]string{
			"interface": "iface", "virtual_router_id": "vrid", "advert_int": "interval",
			"auth_pass": "password", "pass": "password", "unicast_peer": "peers",
			"unicast_src_ip": "srcip", "virtual_ipaddress": "vips", "vip": "vips", "addr": "vips",
			"nopreempt": "preempt: false", "garp_master_delay": "garp: {delay}",
			"garp_master_repeat": "garp: {repeat}", "garp_master_refresh": "garp: {refresh}",
			"notify": "hooks: {notify}", "notify_master": "hooks: {master}",
			"notify_backup": "hooks: {backup}", "notify_fault": "hooks: {fault}", "notify_stop": "hooks: {stop}",
			"upscript": "hooks: {up}", "downscript": "hooks: {down}",
			"xparam": "hooks: {xparam}", "vrrp_version": "proto: vrrp2|vrrp3",
			"track_interfaces": "track_interface", "track_scripts": "track_script", "router": "routers",
			"ignoreifstate": "ignore_ifstate", "use_vmac": "vmac (and vmac_iface)",
		}
		switch key {
		case "state":
			return " (every router starts as BACKUP; use priority or advskew)"
		case "shutdown":
			return " (down hooks always run on shutdown)"
		}
	case "broker.probe":
		ours = map[string]string{"addr": "peer", "address": "peer", "host": "peer", "broker": "peer"}
	case "broker":
		ours = map[string]string{"address": "addr", "host": "addr", "port": "addr (ADDR:PORT)", "conf": "config",
			"config_file": "config", "user": "username", "pass": "password"}
	}
	if h, ok := ours[key]; ok {
		return " (did you mean " + h + "?)"
	}
	if k := nearest(key, known); k != "" {
		return " (did you mean " + k + "?)"
	}
	return ""
}

// nearest returns the one key of known closest to key, if it is close
// enough to be a typo: one edit for keys up to 4 bytes, two beyond, a
// swap of neighbours counting as one. A tie returns "": two guesses help
// less than none.
func nearest(key string, known []string) string {
	limit := 1
	if len(key) > 4 {
		limit = 2
	}
	best, bestD, tie := "", limit+1, false
	for _, k := range known {
		switch d := editDistance(strings.ToLower(key), k); {
		case d < bestD:
			best, bestD, tie = k, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

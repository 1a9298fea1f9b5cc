package config

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Loader reads configurations. The zero Loader looks at the real system.
type Loader struct {
	// IfaceAddrs lists the addresses an interface has of its own (carpd's
	// VIPs excluded), each with its prefix length. A VIP equal to one of
	// them is an error, a VIP in none of their subnets a warning; an
	// error from IfaceAddrs (no such interface) is only a warning, so a
	// file can be checked on another machine; `carpd run` refuses later.
	// nil uses the system: netlink on Linux, the net package elsewhere.
	IfaceAddrs func(iface string) ([]netip.Prefix, error)
	// Script resolves and checks the program of a hook or track script,
	// given as an absolute path or a bare name to look up in SafePath: it
	// returns the absolute path, or why carpd must not run it. nil is
	// SystemScript.
	Script func(name string) (string, error)
	// Root is where the system's files are looked up for the broker's
	// checks: the pid file's directory, systemd's enablement links, the
	// pid files of a running mosquitto and /proc. "" is "/".
	Root string
}

// Load reads and validates a YAML file with the system Loader.
func Load(path string) (*File, error) { return Loader{}.Load(path) }

// FromArgs reads `-c FILE` or a ucarp-compatible command line with the
// system Loader.
func FromArgs(args []string) (*File, error) { return Loader{}.FromArgs(args) }

// Load reads and validates the YAML file at path. On error it returns
// Errors listing every problem, each as FILE:LINE: reason, and a File that
// is good only for its Warnings.
func (l Loader) Load(path string) (*File, error) {
	p := &parser{file: path}
	f := &File{Path: path, StateDir: DefaultStateDir}
	data, err := os.ReadFile(path)
	if err != nil {
		return f, Errors{{File: path, Msg: err.Error()}}
	}
	return l.load(p, f, data)
}

// load validates data read from f.Path.
func (l Loader) load(p *parser, f *File, data []byte) (*File, error) {
	path := f.Path
	specs, hasPassword := p.document(data, f, filepath.Dir(path))
	if hasPassword {
		p.warnReadable(path)
	}
	return l.finish(p, f, specs)
}

// finish builds the routers, checks them against each other and the
// system, and collects the outcome.
func (l Loader) finish(p *parser, f *File, specs []*spec) (*File, error) {
	lookup := l.IfaceAddrs
	if lookup == nil {
		lookup = systemAddrs
	}
	p.script = l.Script
	if p.script == nil {
		p.script = SystemScript
	}
	p.root = l.Root
	if p.root == "" {
		p.root = "/"
	}
	var built []*spec
	for _, s := range specs {
		r, ok := p.build(s)
		// A router with an error still takes part in the checks between
		// routers with what it has, so that one pass reports every error.
		s.r = r
		if ok {
			built = append(built, s)
		}
	}
	p.crossCheck(specs)
	p.systemCheck(built, lookup)
	var broker *Broker
	if p.brokerSpec != nil {
		broker = p.buildBroker(p.brokerSpec, built)
	}
	if len(p.errs) == 0 {
		for _, s := range built {
			f.Routers = append(f.Routers, s.r)
		}
		f.Broker = broker
	}
	f.Warnings = p.warns
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return f, p.errs
	}
	return f, nil
}

// syntaxLine pulls the line out of yaml.v3's "yaml: line N: msg".
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document reads the top level. It reports whether any router holds a
// password in the file itself.
func (p *parser) document(data []byte, f *File, dir string) ([]*spec, bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			// Comments alone are empty too; point at the file's first line
			// when it has one.
			p.errorf(min(1, len(data)), "the file is empty: it needs routers:")
			return nil, false
		}
		p.syntax(data, err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.syntax(data, err)
		} else {
			p.errorf(extra.Line, "a second YAML document; carpd reads one")
		}
		return nil, false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	var specs []*spec
	var routersSeen, hasPassword bool
	p.fields("top level", root, []string{"state_dir", "debug", "metrics_listen", "script_user", "broker", "routers"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "state_dir":
			if s, ok := p.str(key, v); ok {
				if !filepath.IsAbs(s) {
					p.errorf(v.Line, "state_dir: %q is not an absolute path", s)
				}
				f.StateDir = filepath.Clean(s)
			}
		case "debug":
			f.Debug, _ = p.boolean(key, v)
		case "script_user":
			if s, ok := p.str(key, v); ok {
				u, err := lookupScriptUser(s)
				if err != nil {
					p.errorf(v.Line, "script_user: %v", err)
				}
				f.ScriptUser = u
			}
		case "broker":
			p.brokerSpec = p.broker(v, dir)
		case "metrics_listen":
			if s, ok := p.str(key, v); ok {
				if err := checkListen(s); err != nil {
					p.errorf(v.Line, "metrics_listen: %v", err)
				}
				f.MetricsListen, f.MetricsLine = s, v.Line
			}
		case "routers":
			routersSeen = true
			p.list(key, v, func(it *yaml.Node) {
				s := p.router(it, dir)
				_, pw := s.given("password")
				hasPassword = hasPassword || pw
				specs = append(specs, s)
			})
			if r := resolve(v); r.Kind == yaml.SequenceNode && len(r.Content) == 0 {
				p.errorf(v.Line, "routers: the list is empty")
			}
		}
	})
	if !routersSeen && root.Kind == yaml.MappingNode {
		p.errorf(root.Line, "routers: missing; the file needs at least one router")
	}
	return specs, hasPassword
}

// syntax reports a YAML syntax error at the line it is on. yaml.v3 names
// the line where the enclosing block or flow collection starts, counted
// from 0 for parser errors and from 1 for scanner errors, or no line at
// all (bad UTF-8, control characters); the problem is on the first line
// whose inclusion makes the text fail with the same message, since the
// parser reads the input in order. Prefixes that fail otherwise (a flow
// list cut in the middle) are passed over.
func (p *parser) syntax(data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	yline := 0
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		yline, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	line := problemLine(data, msg)
	if line == 0 {
		line = max(yline, 1)
	}
	p.errorf(line, "YAML syntax: %s", msg)
}

// maxScanLines bounds problemLine, which parses the file once per line.
const maxScanLines = 5000

// problemLine returns the first line n such that lines 1..n fail to parse
// with msg, or 0.
func problemLine(data []byte, msg string) int {
	end := 0
	for n := 1; end < len(data) && n <= maxScanLines; n++ {
		if i := bytes.IndexByte(data[end:], '\n'); i >= 0 {
			end += i + 1
		} else {
			end = len(data)
		}
		if m := decodeAll(data[:end]); m == msg {
			return n
		}
	}
	return 0
}

// decodeAll parses every document of data and returns the text of the
// first error without its "yaml: line N: " prefix, or "".
func decodeAll(data []byte) string {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		switch {
		case errors.Is(err, io.EOF):
			return ""
		case err != nil:
			if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
				return m[2]
			}
			return strings.TrimPrefix(err.Error(), "yaml: ")
		}
	}
}

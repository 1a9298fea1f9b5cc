package mqconf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BrokerConf is what carpd needs to know from a mosquitto.conf: where the
// broker listens, whether it persists retained messages, and what its
// bridges carry. Everything else in the file is ignored.
type BrokerConf struct {
	// Files are the files read, the main one first, then those from
	// include_dir in the order mosquitto reads them.
	Files []string
	// Listeners in file order. Without any listener (or port) mosquitto
	// 2.0 listens on loopback port 1883 only (ChangeLog 2.0.0), given as
	// one listener with Implicit set.
	Listeners []Listener
	// Persistence is the "persistence" setting (default false). Without
	// it a restart loses every retained message, Home Assistant
	// discovery among them (mosquitto.conf(5), "persistence").
	Persistence bool
	// PersistenceLocation is "persistence_location", "" if unset.
	PersistenceLocation string
	// Bridges are the "connection" blocks in file order.
	Bridges []Bridge
	// PidFile is "pid_file", "" if unset. mosquitto 2.0 writes it even
	// in the foreground and exits when it cannot.
	PidFile string
}

// Listener is a "listener" line (or the old "port"/"bind_address" pair)
// with the per-listener settings carpd cares about.
type Listener struct {
	Port int
	// Bind is the bind address or host, "" for all addresses.
	Bind string
	// Socket is the unix socket path of "listener 0 PATH".
	Socket string
	// Protocol is "mqtt" (default) or "websockets".
	Protocol string
	// TLS is set when the listener has a certfile (or PSK hint).
	TLS bool
	// Implicit marks the loopback listener mosquitto opens when the
	// file has none.
	Implicit bool
}

// Bridge is a "connection" block.
type Bridge struct {
	Name string
	// Addresses are the "address"/"addresses" entries, host[:port].
	Addresses []string
	Topics    []BridgeTopic
	// TryPrivate is "try_private" (default true).
	TryPrivate bool
	// CleanSession is "cleansession" (default false).
	CleanSession bool
	// RemoteClientID is "remote_clientid" (or the old "clientid"), ""
	// when mosquitto derives it from the hostname.
	RemoteClientID string
	// Keepalive is "keepalive_interval" (default 60 s).
	Keepalive time.Duration
	// Notifications is "notifications" (default true).
	Notifications bool
	// NotificationTopic is "notification_topic", "" for the default
	// $SYS/broker/connection/<remote_clientid>/state.
	NotificationTopic string
}

// BridgeTopic is a bridge "topic" line: pattern [direction [qos
// [local-prefix remote-prefix]]].
type BridgeTopic struct {
	Pattern      string
	Direction    Direction
	QoS          int
	LocalPrefix  string
	RemotePrefix string
}

// maxIncludeDepth stops include_dir loops.
const maxIncludeDepth = 4

// ReadBrokerConf reads a mosquitto.conf and the files its include_dir lines
// name.
func ReadBrokerConf(path string) (*BrokerConf, error) {
	p := &confParser{conf: &BrokerConf{}, listener: -1, bridge: -1, port: -1}
	if err := p.file(path, 0); err != nil {
		return nil, err
	}
	c := p.conf
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Port: 1883, Bind: "localhost", Protocol: "mqtt", Implicit: true}}
	}
	return c, nil
}

// confParser keeps the current listener and bridge as indices: mosquitto
// applies listener and bridge settings to the last "listener" and
// "connection" line seen, independently of each other. -1 means none.
type confParser struct {
	conf     *BrokerConf
	listener int
	bridge   int
	port     int // the default listener of "port"/"bind_address"
}

func (p *confParser) file(path string, depth int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading broker config: %w", err)
	}
	defer f.Close()
	p.conf.Files = append(p.conf.Files, path)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := p.line(strings.Fields(line), filepath.Dir(path), depth); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func (p *confParser) line(f []string, dir string, depth int) error {
	key, args := f[0], f[1:]
	switch key {
	case "include_dir":
		return p.includeDir(args, dir, depth)
	case "listener":
		return p.newListener(args)
	case "port", "bind_address":
		return p.defaultListener(key, args)
	case "protocol":
		if l := p.current(); l != nil && len(args) == 1 {
			l.Protocol = args[0]
		}
	case "certfile", "psk_hint":
		if l := p.current(); l != nil {
			l.TLS = true
		}
	case "persistence":
		b, err := parseBool(key, args)
		p.conf.Persistence = b
		return err
	case "pid_file":
		if len(args) == 1 {
			p.conf.PidFile = args[0]
		}
	case "persistence_location":
		if len(args) == 1 {
			p.conf.PersistenceLocation = args[0]
		}
	case "connection":
		if len(args) != 1 {
			return errors.New("connection: want one name")
		}
		p.conf.Bridges = append(p.conf.Bridges, Bridge{
			Name: args[0], TryPrivate: true, Notifications: true, Keepalive: 60 * time.Second,
		})
		p.bridge = len(p.conf.Bridges) - 1
	default:
		if p.bridge >= 0 {
			return bridgeLine(&p.conf.Bridges[p.bridge], key, args)
		}
	}
	return nil
}

// current is the listener that per-listener settings apply to.
func (p *confParser) current() *Listener {
	switch {
	case p.listener >= 0:
		return &p.conf.Listeners[p.listener]
	case p.port >= 0:
		return &p.conf.Listeners[p.port]
	}
	return nil
}

func (p *confParser) includeDir(args []string, dir string, depth int) error {
	if len(args) != 1 {
		return errors.New("include_dir: want one directory")
	}
	if depth >= maxIncludeDepth {
		return errors.New("include_dir nested too deep")
	}
	d := args[0]
	if !filepath.IsAbs(d) {
		d = filepath.Join(dir, d)
	}
	matches, err := filepath.Glob(filepath.Join(d, "*.conf"))
	if err != nil {
		return fmt.Errorf("include_dir %s: %w", d, err)
	}
	// mosquitto.conf(5): the files are read in alphabetical order.
	sort.Strings(matches)
	for _, m := range matches {
		if err := p.file(m, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (p *confParser) newListener(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("listener: want a port and an optional address")
	}
	port, err := parsePort(args[0], true)
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	l := Listener{Port: port, Protocol: "mqtt"}
	if len(args) == 2 {
		if port == 0 {
			l.Socket = args[1]
		} else {
			l.Bind = args[1]
		}
	}
	p.conf.Listeners = append(p.conf.Listeners, l)
	p.listener = len(p.conf.Listeners) - 1
	return nil
}

// defaultListener handles the deprecated global "port" and "bind_address",
// which together make one listener.
func (p *confParser) defaultListener(key string, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s: want one value", key)
	}
	if p.port < 0 {
		p.conf.Listeners = append(p.conf.Listeners, Listener{Port: 1883, Protocol: "mqtt"})
		p.port = len(p.conf.Listeners) - 1
	}
	l := &p.conf.Listeners[p.port]
	if key == "bind_address" {
		l.Bind = args[0]
		return nil
	}
	port, err := parsePort(args[0], false)
	if err != nil {
		return fmt.Errorf("port: %w", err)
	}
	l.Port = port
	return nil
}

// bridgeLine applies a setting inside a "connection" block.
func bridgeLine(b *Bridge, key string, args []string) error {
	var err error
	switch key {
	case "address", "addresses":
		if len(args) == 0 {
			return fmt.Errorf("%s: want at least one host[:port]", key)
		}
		b.Addresses = append(b.Addresses, args...)
	case "topic":
		var t BridgeTopic
		t, err = parseBridgeTopic(args)
		b.Topics = append(b.Topics, t)
	case "try_private":
		b.TryPrivate, err = parseBool(key, args)
	case "cleansession":
		b.CleanSession, err = parseBool(key, args)
	case "notifications":
		b.Notifications, err = parseBool(key, args)
	case "notification_topic":
		if len(args) == 1 {
			b.NotificationTopic = args[0]
		}
	case "remote_clientid", "clientid":
		if len(args) == 1 {
			b.RemoteClientID = args[0]
		}
	case "keepalive_interval":
		var n int
		if len(args) == 1 {
			n, err = strconv.Atoi(args[0])
		}
		if len(args) != 1 || err != nil || n < 0 {
			return fmt.Errorf("keepalive_interval %q: want seconds", args)
		}
		b.Keepalive = time.Duration(n) * time.Second
	}
	return err
}

// parseBridgeTopic reads "pattern [out|in|both [qos [local remote]]]"; ""
// stands for an empty pattern or prefix (mosquitto.conf(5)).
func parseBridgeTopic(args []string) (BridgeTopic, error) {
	if len(args) < 1 || len(args) > 5 || len(args) == 4 {
		return BridgeTopic{}, fmt.Errorf("topic %q: want pattern [direction [qos [local-prefix remote-prefix]]]", args)
	}
	unquote := func(s string) string {
		if s == `""` {
			return ""
		}
		return s
	}
	t := BridgeTopic{Pattern: unquote(args[0]), Direction: Out}
	var err error
	if len(args) > 1 {
		if t.Direction, err = ParseDirection(args[1]); err != nil {
			return t, fmt.Errorf("topic %s: %w", args[0], err)
		}
	}
	if len(args) > 2 {
		if t.QoS, err = strconv.Atoi(args[2]); err != nil || t.QoS < 0 || t.QoS > 2 {
			return t, fmt.Errorf("topic %s: qos %q, want 0, 1 or 2", args[0], args[2])
		}
	}
	if len(args) == 5 {
		t.LocalPrefix, t.RemotePrefix = unquote(args[3]), unquote(args[4])
	}
	if t.Pattern == "" && t.LocalPrefix == "" && t.RemotePrefix == "" {
		return t, errors.New("topic: empty pattern without prefixes")
	}
	if err := ValidFilter(t.LocalPrefix + t.Pattern); err != nil {
		return t, fmt.Errorf("topic: %w", err)
	}
	return t, nil
}

func parseBool(key string, args []string) (bool, error) {
	if len(args) == 1 {
		switch args[0] {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s %q: want true or false", key, args)
}

func parsePort(s string, zeroOK bool) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("port %q out of range", s)
	}
	return n, nil
}

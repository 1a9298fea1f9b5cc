package config

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/carpd/carpd/internal/secret"
	"github.com/carpd/carpd/mosquitto/mqconf"
)

// buildBroker applies the rules of the broker section that need more than
// one key, the broker's own config file and the routers. It returns nil
// when the section has errors.
func (p *parser) buildBroker(s *brokerSpec, routers []*spec) *Broker {
	before := len(p.errs)
	b := &s.b
	p.brokerFiles(s)
	p.brokerCommand(s)
	p.brokerAddr(s)
	p.brokerSecrets(s)
	if b.BackoffCap < b.BackoffBase {
		p.errorf(s.lineOf("backoff"), "broker.backoff: cap %v is below base %v", b.BackoffCap, b.BackoffBase)
	}
	if b.Health.Interval > 0 && b.Health.Timeout >= b.Health.Interval {
		p.errorf(s.lineOf("health"), "broker.health: timeout %v must be below interval %v", b.Health.Timeout, b.Health.Interval)
	}
	p.brokerProbe(s, routers)
	p.brokerWarnings(s, routers)
	p.brokerSystem(s)
	if len(p.errs) != before {
		return nil
	}
	return b
}

// brokerFiles resolves relative paths and reads the broker's config file.
func (p *parser) brokerFiles(s *brokerSpec) {
	b := &s.b
	for _, f := range []*string{&b.Config, &b.Passfile, &b.TLS.CA, &b.TLS.Cert, &b.TLS.Key} {
		if *f != "" && !filepath.IsAbs(*f) && s.dir != "" {
			*f = filepath.Join(s.dir, *f)
		}
	}
	if (b.TLS.Cert == "") != (b.TLS.Key == "") {
		p.errorf(s.lineOf("tls"), "broker.tls: cert and key go together")
	}
	if _, ok := s.given("config"); !ok || b.Config == "" {
		return
	}
	conf, err := mqconf.ReadBrokerConf(b.Config)
	switch {
	case errors.Is(err, fs.ErrPermission):
		p.warnf("broker.config: %v; it is not checked (probe topic, persistence, listeners)", err)
	case err != nil:
		p.errorf(s.lineOf("config"), "broker.config: %v", err)
	default:
		b.Conf = conf
	}
}

// brokerCommand fills in the default command and checks that the program
// exists: a missing broker is refused before anything is touched.
func (p *parser) brokerCommand(s *brokerSpec) {
	b := &s.b
	if _, ok := s.at["command"]; !ok {
		if b.Config == "" {
			p.errorf(b.Line, "broker: command or config is required (the default command is mosquitto -c CONFIG)")
			return
		}
		b.Command = []string{"mosquitto", "-c", b.Config}
	}
	if len(b.Command) == 0 {
		if _, ok := s.given("command"); ok {
			p.errorf(s.lineOf("command"), "broker.command: empty: give the program and its arguments as a list")
		}
		return
	}
	if _, err := exec.LookPath(b.Command[0]); err != nil {
		p.errorf(s.lineOf("command"), "broker.command: %s: %v", b.Command[0], unwrapExec(err))
	}
}

// unwrapExec drops exec's "exec: NAME:" prefix, which repeats the name.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// brokerAddr parses addr or derives it: the first plain MQTT listener's
// bind address and port, else the routers' source address (filled in by
// the daemon) at the listener's port or 1883.
func (p *parser) brokerAddr(s *brokerSpec) {
	b := &s.b
	if l, ok := s.given("addr"); ok {
		ap, err := parseHostPort(s.addr, DefaultBrokerPort)
		if err != nil {
			p.errorf(l, "broker.addr: %v", err)
			return
		}
		b.Addr = ap
		return
	}
	port := uint16(DefaultBrokerPort)
	if b.Conf != nil {
		for _, ln := range b.Conf.Listeners {
			if ln.Socket != "" || ln.Protocol != "mqtt" || ln.Port == 0 || (ln.TLS && b.TLS.CA == "" && b.TLS.Cert == "") {
				continue
			}
			port = uint16(ln.Port)
			if a, err := netip.ParseAddr(ln.Bind); err == nil && !a.IsUnspecified() {
				b.Addr = netip.AddrPortFrom(a.Unmap(), port)
				return
			}
			break
		}
	}
	b.Addr = netip.AddrPortFrom(netip.Addr{}, port)
}

// parseHostPort reads ADDR or ADDR:PORT ([ADDR]:PORT for IPv6).
func parseHostPort(s string, defPort uint16) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), defPort), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, errors.New(strconv.Quote(s) + " is not ADDR or ADDR:PORT")
	}
	a, err := parseAddr(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	n, err := parseInt(port, 1, 65535)
	if err != nil {
		return netip.AddrPort{}, errors.New("port " + err.Error())
	}
	if err := unicastAddr(a); err != nil {
		return netip.AddrPort{}, errors.New(a.String() + " " + err.Error())
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

// brokerSecrets reads the passfiles; password and passfile exclude each
// other.
func (p *parser) brokerSecrets(s *brokerSpec) {
	b := &s.b
	read := func(prefix string, at map[string]int, pw *secret.Secret, file string) {
		_, hasPW := at["password"]
		lf, hasFile := at["passfile"]
		switch {
		case hasPW && hasFile:
			p.errorf(lf, "%s.password and %s.passfile exclude each other", prefix, prefix)
		case hasFile && file != "":
			v, err := p.readPassfile(file)
			if err != nil {
				p.errorf(lf, "%s.passfile: %v", prefix, err)
				return
			}
			*pw = secret.Secret(v)
		}
	}
	read("broker", s.at, &b.Password, b.Passfile)
	if b.Probe != nil && s.probe != nil {
		pr := b.Probe
		if pr.Passfile != "" && !filepath.IsAbs(pr.Passfile) && s.dir != "" {
			pr.Passfile = filepath.Join(s.dir, pr.Passfile)
		}
		read("broker.probe", s.probe.at, &pr.Password, pr.Passfile)
	}
}

// brokerProbe checks the probe: a topic prefix that a bridge of the local
// broker carries in every probed direction, a deadline below the interval,
// a peer address.
func (p *parser) brokerProbe(s *brokerSpec, routers []*spec) {
	pr, ps := s.b.Probe, s.probe
	if pr == nil || ps == nil {
		return
	}
	line := func(k string) int {
		if l, ok := ps.at[k]; ok {
			return l
		}
		return s.lineOf("probe")
	}
	if ps.peer != "" {
		ap, err := parseHostPort(ps.peer, s.b.Addr.Port())
		if err != nil {
			p.errorf(line("peer"), "broker.probe.peer: %v", err)
		}
		pr.Peer, pr.PeerFrom = ap, "broker.probe.peer"
	} else {
		p.probePeer(s, routers)
	}
	if pr.Deadline >= pr.Interval {
		p.errorf(line("deadline"), "broker.probe.deadline: %v must be below the interval %v", pr.Deadline, pr.Interval)
	}
	if _, ok := ps.at["restart_after"]; ok && pr.OnBroken != "restart" {
		p.errorf(line("restart_after"), "broker.probe.restart_after applies to on_broken: restart only")
	}
	p.heartbeatTopic(s, line("heartbeat_topic"))
	if pr.Topic == "" {
		p.errorf(line("topic"), "broker.probe.topic: the probe topic prefix is required (inside a bridged pattern, e.g. home/carpd-probe)")
		return
	}
	if err := mqconf.ValidTopic(pr.Topic); err != nil || strings.HasPrefix(pr.Topic, "$") {
		p.errorf(line("topic"), "broker.probe.topic: %q is not a plain topic (no wildcards, not under $)", pr.Topic)
		return
	}
	pr.PeerTopic = pr.Topic
	conf := s.b.Conf
	if conf == nil {
		return
	}
	if len(conf.Bridges) == 0 {
		p.warnf("broker.probe: %s has no bridge (connection); the peer's broker must carry %s/# both ways", s.b.Config, pr.Topic)
		return
	}
	peer, err := conf.ProbeRoute(pr.Topic, pr.Direction)
	if err != nil {
		p.errorf(line("topic"), "broker.probe.topic: %v", err)
		return
	}
	pr.PeerTopic = peer
}

// heartbeatTopic checks broker.probe.heartbeat_topic: a plain topic that
// no bridge carries. Heartbeats are published straight on the peer's
// broker to test the network path between the nodes; a bridge carrying
// them too would deliver copies over the bridge and send each node's own
// heartbeats back to the peer's broker. A warning, not an error: the
// copies are harmless to the rules (each node drops its own
// topic), and a bridge of "#" leaves no topic outside it.
func (p *parser) heartbeatTopic(s *brokerSpec, at int) {
	t := s.b.Probe.HeartbeatTopic
	if err := mqconf.ValidTopic(t); err != nil || strings.HasPrefix(t, "$") {
		p.errorf(at, "broker.probe.heartbeat_topic: %q is not a plain topic (no wildcards, not under $)", t)
		return
	}
	if t == s.b.Probe.Topic || strings.HasPrefix(t, s.b.Probe.Topic+"/") {
		p.errorf(at, "broker.probe.heartbeat_topic: %s is inside the probe topic %s, which the bridge carries", t,
			s.b.Probe.Topic)
		return
	}
	conf := s.b.Conf
	if conf == nil {
		return
	}
	if b, ok := conf.Carries(t + "/+"); ok {
		p.warnf("broker.probe.heartbeat_topic: %s/+ is carried by bridge %s of %s: heartbeats then also travel "+
			"over the bridge; choose a topic outside the bridged patterns", t, b, s.b.Config)
	}
}

// probePeer takes the probe's peer from the first router with a single
// unicast peer of the broker's family. The probe logs in to the peer with
// the broker's credentials, so its address must come from this file: the
// source of an advertisement proves nothing (the CARP HMAC does not cover
// the IP header, VRRPv3 has no authentication, VRRPv2's password is clear
// text), and carpd no longer learns the peer from it. Without either the
// probe is off, a warning rather than an error: the probe only reports (or
// restarts a wedged bridge), and refusing to start would take the
// failover down with it.
func (p *parser) probePeer(s *brokerSpec, routers []*spec) {
	pr := s.b.Probe
	pr.Peer = netip.AddrPortFrom(netip.Addr{}, s.b.Addr.Port())
	own := s.b.Addr.Addr()
	if !own.IsValid() && len(routers) > 0 {
		// The daemon takes the first router's source address, which is of
		// the family of its VIPs.
		own = routers[0].r.VIPs[0].Addr()
		if a := routers[0].r.SrcIP; a.IsValid() {
			own = a
		}
	}
	for _, r := range routers {
		if peers := r.r.Peers; len(peers) == 1 && own.IsValid() && peers[0].Unmap().Is4() == own.Unmap().Is4() {
			pr.Peer, pr.PeerFrom = netip.AddrPortFrom(peers[0], s.b.Addr.Port()), "peers of router "+r.r.Name
			return
		}
	}
	at := Error{File: p.file, Line: s.lineOf("probe"), Msg: "broker.probe: " + ProbeOff}
	p.warnf("%s; set broker.probe.peer to the other node's broker address, or give a router a single unicast peer", at)
}

// ProbeOff says why the probe does not run without a configured peer.
const ProbeOff = "off: no probe.peer configured (carpd no longer learns it from adverts)"

// brokerWarnings explains choices that work but cost something.
func (p *parser) brokerWarnings(s *brokerSpec, routers []*spec) {
	b := &s.b
	if b.OnPromote == "restart" && b.Conf != nil && !b.Conf.Persistence {
		p.warnf("broker: on_promote: restart with persistence false in %s: every failover restarts the broker "+
			"and loses its retained messages, Home Assistant discovery among them, until devices publish again; "+
			"set persistence true or on_promote: none", b.Config)
	}
	if b.NAT == "none" {
		if _, ok := s.given("ports"); ok {
			p.warnf("broker.ports are DNATed only with nat: dnat; ignored with nat: none")
		}
		p.warnf("broker: nat: none: clients reach the VIP only if the broker accepts connections to it: "+
			"a wildcard listener (listener %d), bind_interface, or a listener on the VIP with "+
			"net.ipv4.ip_nonlocal_bind=1 (net.ipv6.ip_nonlocal_bind for IPv6); otherwise connections to the VIP are refused",
			b.Addr.Port())
		return
	}
	if !b.Addr.Addr().IsValid() {
		return
	}
	for _, r := range routers {
		for _, v := range r.r.VIPs {
			if v.Addr().Is4() != b.Addr.Addr().Is4() {
				p.warnf("router %s: VIP %s is not of the family of broker.addr %s: it gets no DNAT",
					r.r.Name, v.Addr(), b.Addr.Addr())
			}
		}
	}
}

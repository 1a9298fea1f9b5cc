//go:build linux

package daemon

import (
	"context"
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/carpd/carpd/supervisor"
)

// learnInterval is how often the probe looks for the peer's address while
// it has none configured.
const learnInterval = 250 * time.Millisecond

// probeRunner runs the bridge probe once the peer broker's address is
// known: configured, the single unicast peer of a router, or learned from
// the source of the peer's advertisements (only a BACKUP hears them; CARP
// and VRRP backups are silent).
type probeRunner struct {
	s     *brokerSvc
	local supervisor.Broker

	mu    sync.Mutex
	peer  netip.AddrPort
	probe *supervisor.Probe
}

func newProbeRunner(s *brokerSvc, local supervisor.Broker) *probeRunner {
	pr := s.cfg.Probe
	local.Username, local.Password = s.cfg.Username, supervisor.Secret(s.cfg.Password.Bytes())
	if pr.Username != "" || len(pr.Password) > 0 {
		local.Username, local.Password = pr.Username, supervisor.Secret(pr.Password.Bytes())
	}
	return &probeRunner{s: s, local: local}
}

// run waits for the peer's address, then probes until ctx ends.
func (p *probeRunner) run(ctx context.Context) {
	peer, ok := p.findPeer(ctx)
	if !ok {
		return
	}
	pr := p.s.cfg.Probe
	remote := p.local
	remote.Addr = peer.String()
	cfg := supervisor.ProbeConfig{
		Node: p.s.addr.Addr().String(), PeerNode: peer.Addr().String(),
		Local: p.local, Peer: remote, Prefix: pr.Topic, PeerPrefix: pr.PeerTopic, Direction: pr.Direction,
		Interval: pr.Interval, Deadline: pr.Deadline, BrokenAfter: pr.BrokenAfter,
		OnChange: func(supervisor.PathStatus) { p.s.d.statusChanged() },
		Logger:   p.s.d.log.With("component", "probe"),
	}
	if pr.OnBroken == "restart" {
		cfg.RestartAfter = pr.RestartAfter
		cfg.Restart = func(ctx context.Context) error {
			_, err := p.s.child.Restart(ctx)
			return err
		}
	}
	probe, err := supervisor.NewProbe(cfg)
	if err != nil {
		p.s.log.Error("bridge probe not started", "error", err)
		return
	}
	p.mu.Lock()
	p.peer, p.probe = peer, probe
	p.mu.Unlock()
	p.s.log.Info("bridge probe started", "peer", peer.String(), "topic", pr.Topic, "direction", pr.Direction)
	p.s.d.statusChanged()
	_ = probe.Run(ctx)
}

// findPeer returns the peer broker's address once known.
func (p *probeRunner) findPeer(ctx context.Context) (netip.AddrPort, bool) {
	port := p.s.cfg.Probe.Peer.Port()
	if a := p.s.cfg.Probe.Peer.Addr(); a.IsValid() {
		return p.s.cfg.Probe.Peer, true
	}
	tick := time.NewTicker(learnInterval)
	defer tick.Stop()
	logged := false
	for {
		if a, ok := p.s.d.peerAddr(p.s.addr.Addr()); ok {
			return netip.AddrPortFrom(a, port), true
		}
		if !logged {
			p.s.log.Info("bridge probe waiting to learn the peer's address from its advertisements")
			logged = true
		}
		select {
		case <-ctx.Done():
			return netip.AddrPort{}, false
		case <-tick.C:
		}
	}
}

// peerAddr returns the peer's address: the only unicast peer of a router,
// or the source of the adverts of a master other than us, of the family
// of own.
func (d *Daemon) peerAddr(own netip.Addr) (netip.Addr, bool) {
	ours := map[netip.Addr]bool{own: true}
	for _, r := range d.all() {
		ours[r.base.Machine.Addr] = true
	}
	for _, r := range d.all() {
		if peers := r.base.Peers; len(peers) == 1 && peers[0].Is4() == own.Is4() {
			return peers[0], true
		}
		r.smu.Lock()
		m := r.snap.master
		r.smu.Unlock()
		if m.IsValid() && !ours[m] && m.Is4() == own.Is4() {
			return m, true
		}
	}
	return netip.Addr{}, false
}

// paths returns the probe's directions; none before the peer is known.
func (p *probeRunner) paths() []supervisor.PathStatus {
	p.mu.Lock()
	probe := p.probe
	p.mu.Unlock()
	if probe == nil {
		return nil
	}
	return probe.Status().Paths
}

// status reports the probe for Status.
func (p *probeRunner) status() *ProbeState {
	p.mu.Lock()
	peer, probe := p.peer, p.probe
	p.mu.Unlock()
	st := &ProbeState{}
	if probe == nil {
		return st
	}
	st.Peer = peer.String()
	ps := probe.Status()
	st.BridgeState = maps.Clone(ps.BridgeState)
	for _, path := range ps.Paths {
		s := PathState{Direction: path.Direction.String(), State: path.State.String(), Since: path.Since,
			LastOK: path.LastOK, Failures: path.Failures, LastErr: path.LastErr}
		if path.RTT > 0 {
			s.RTT = path.RTT.String()
		}
		st.Paths = append(st.Paths, s)
	}
	return st
}

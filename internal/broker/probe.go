//go:build linux

package broker

import (
	"context"
	"maps"
	"net/netip"
	"sync"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/status"
	"github.com/carpd/carpd/mosquitto"
)

// probeRunner runs the bridge probe against the peer broker named in the
// configuration (broker.probe.peer or a router's single unicast peer). It
// never takes the address from an advertisement: the probe logs in with
// the broker's credentials, and an advert's source can be forged.
type probeRunner struct {
	s     *Service
	local mosquitto.Broker
	peer  netip.AddrPort
	// off says why the probe does not run; "" when it does.
	off string

	mu    sync.Mutex
	probe *mosquitto.Probe
}

func newProbeRunner(s *Service, local mosquitto.Broker) *probeRunner {
	pr := s.cfg.Probe
	local.Username, local.Password = s.cfg.Username, s.cfg.Password
	if pr.Username != "" || len(pr.Password) > 0 {
		local.Username, local.Password = pr.Username, pr.Password
	}
	p := &probeRunner{s: s, local: local, peer: pr.Peer}
	if !pr.Peer.Addr().IsValid() {
		p.off = config.ProbeOff
	}
	return p
}

// run probes until ctx ends; it returns at once when the probe is off.
func (p *probeRunner) run(ctx context.Context) {
	if p.off != "" {
		p.s.log.Warn("bridge probe "+p.off, "fix", "set broker.probe.peer to the other node's broker address")
		return
	}
	pr := p.s.cfg.Probe
	remote := p.local
	remote.Addr = p.peer.String()
	cfg := mosquitto.ProbeConfig{
		Node: p.s.addr.Addr().String(), PeerNode: p.peer.Addr().String(),
		Local: p.local, Peer: remote, Prefix: pr.Topic, PeerPrefix: pr.PeerTopic, Direction: pr.Direction,
		Interval: pr.Interval, Deadline: pr.Deadline, BrokenAfter: pr.BrokenAfter,
		OnChange: func(mosquitto.PathStatus) { p.s.host.StatusChanged() },
		Logger:   p.s.host.Logger().With("component", "probe"),
		// Heartbeats (docs/daemon.md, "Heartbeat") ride on the probe's
		// connections: the peer's broker is reached only at the
		// configured address, with the probe's credentials.
		HeartbeatTopic: pr.HeartbeatTopic, OnHeartbeat: p.s.heartbeatIn,
	}
	if pr.OnBroken == "restart" {
		cfg.RestartAfter = pr.RestartAfter
		cfg.Restart = func(ctx context.Context) error {
			_, err := p.s.child.Restart(ctx)
			return err
		}
	}
	probe, err := mosquitto.NewProbe(cfg)
	if err != nil {
		p.s.log.Error("bridge probe not started", "error", err)
		return
	}
	p.mu.Lock()
	p.probe = probe
	p.mu.Unlock()
	p.s.log.Info("bridge probe started", "peer", p.peer.String(), "from", pr.PeerFrom, "topic", pr.Topic,
		"direction", pr.Direction)
	p.s.host.StatusChanged()
	_ = probe.Run(ctx)
}

// current returns the running probe, nil before it starts or while off.
func (p *probeRunner) current() *mosquitto.Probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probe
}

// paths returns the probe's directions; none while it is off.
func (p *probeRunner) paths() []mosquitto.PathStatus {
	p.mu.Lock()
	probe := p.probe
	p.mu.Unlock()
	if probe == nil {
		return nil
	}
	return probe.Status().Paths
}

// status reports the probe for Status.
func (p *probeRunner) status() *status.Probe {
	p.mu.Lock()
	probe := p.probe
	p.mu.Unlock()
	st := &status.Probe{Off: p.off}
	if p.off == "" {
		st.Peer = p.peer.String()
	}
	if probe == nil {
		return st
	}
	ps := probe.Status()
	st.BridgeState, st.BridgeRefused = maps.Clone(ps.BridgeState), ps.BridgeRefused
	for _, path := range ps.Paths {
		s := status.Path{Direction: path.Direction.String(), State: path.State.String(), Since: path.Since,
			LastOK: path.LastOK, Failures: path.Failures, LastErr: path.LastErr}
		if path.RTT > 0 {
			s.RTT = path.RTT.String()
		}
		st.Paths = append(st.Paths, s)
	}
	return st
}

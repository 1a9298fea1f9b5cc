//go:build linux

package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/heartbeat"
	"github.com/carpd/carpd/internal/status"
	"github.com/carpd/carpd/mosquitto"
	"github.com/carpd/carpd/nat"
	"github.com/carpd/carpd/supervisor"
)

// Host is how the service reaches the daemon (internal/daemon's
// BrokerHost). Its methods must not block.
type Host interface {
	// Logger is the daemon's logger.
	Logger() *slog.Logger
	// SourceAddr is the first router's source address, the broker's
	// address when the configuration gives only a port.
	SourceAddr() netip.Addr
	// StatusChanged asks for the status file to be rewritten.
	StatusChanged()
	// BrokerHealth demotes every router by weight while failed.
	BrokerHealth(failed bool, weight int, why string)
}

// Config is what the service needs besides the Host.
type Config struct {
	// Broker is the configuration's broker section.
	Broker *config.Broker
	// StateDir holds the broker's pid file.
	StateDir string
	// Version is carpd's version, shown to Home Assistant as the
	// device's firmware.
	Version string
}

// child is the supervised broker process (supervisor.Child).
type child interface {
	Run(ctx context.Context) error
	Restart(ctx context.Context) (supervisor.RestartResult, error)
	State() supervisor.Status
}

// deps are the service's ways into the system, replaced in tests.
type deps struct {
	lookPath func(string) (string, error)
	newChild func(supervisor.Config) (child, error)
	// table, flush and reset are package nat's Table, FlushConntrack and
	// ResetClients.
	table table
	flush func(vip netip.Addr, ports []uint16) (uint, error)
	reset func(vip netip.Addr, ports []uint16, to netip.Addr) (uint, error)
	// dial, if set, is how carpd's MQTT clients dial (Broker.Dial).
	dial mosquitto.DialFunc
}

func systemDeps() deps {
	return deps{
		lookPath: exec.LookPath,
		newChild: func(c supervisor.Config) (child, error) { return supervisor.New(c) },
		table:    nat.New(),
		flush: func(vip netip.Addr, ports []uint16) (uint, error) {
			return nat.FlushConntrack(vip, ports)
		},
		reset: func(vip netip.Addr, ports []uint16, to netip.Addr) (uint, error) {
			return nat.ResetClients(vip, ports, to)
		},
	}
}

// Service supervises the broker for the daemon's whole life, on every
// node (the bridge needs the backup's broker too), and provides the
// broker's transition steps.
type Service struct {
	host   Host
	cfg    *config.Broker
	addr   netip.AddrPort
	log    *slog.Logger
	child  child
	health *mosquitto.Health
	nat    *natMgr // nil with nat: none
	probe  *probeRunner
	hass   *hassSvc // nil unless broker.home_assistant is enabled
	hb     hbLink

	// ctx ends with the service; stepCtx ends when shutdown begins, so a
	// restart in a transition does not hold the shutdown up.
	ctx, stepCtx      context.Context
	cancel, interrupt context.CancelFunc
	events            chan supervisor.Event
	wg                sync.WaitGroup
	childDone         chan struct{}

	mu sync.Mutex
	// restartedAt is the start of the last restart asked for, or of a
	// promotion that found the broker fresh.
	restartedAt time.Time
	// servedAt is when a router of this node was last promoted or left
	// MASTER: a broker process started after it has served no VIP client.
	servedAt  time.Time
	unhealthy map[string]struct{} // reasons: health, crash loop, stopped
}

// New builds the service of c.Broker for host. A broker address without
// an IP takes host's source address. Nothing is started or touched.
func New(c Config, host Host) (*Service, error) {
	return newService(c, host, systemDeps())
}

func newService(c Config, host Host, dp deps) (*Service, error) {
	cfg := c.Broker
	if _, err := dp.lookPath(cfg.Command[0]); err != nil {
		return nil, fmt.Errorf("broker command: %w", err)
	}
	addr := cfg.Addr
	if !addr.Addr().IsValid() {
		addr = netip.AddrPortFrom(host.SourceAddr(), addr.Port())
	}
	log := host.Logger()
	s := &Service{host: host, cfg: cfg, addr: addr, log: log.With("component", "broker"),
		events: make(chan supervisor.Event, 64), childDone: make(chan struct{}),
		unhealthy: make(map[string]struct{}), hb: hbLink{out: make(chan heartbeat.Beat, hbQueue), node: addr.Addr().String()}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stepCtx, s.interrupt = context.WithCancel(s.ctx)
	b, err := s.client()
	if err != nil {
		return nil, err
	}
	b.Dial = dp.dial
	tag := addr.Addr().String()
	s.child, err = dp.newChild(supervisor.Config{
		Name: filepath.Base(cfg.Command[0]), Command: cfg.Command,
		Ready:        mosquitto.MQTTReady(b, "carpd-ready-"+tag),
		ReadyTimeout: cfg.ReadyTimeout, ReadyInterval: 50 * time.Millisecond, StopTimeout: cfg.StopTimeout,
		BackoffBase: cfg.BackoffBase, BackoffCap: cfg.BackoffCap, StateDir: c.StateDir,
		OnEvent: s.onEvent, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if h := cfg.Health; h.Interval > 0 {
		s.health, err = mosquitto.NewHealth(mosquitto.HealthConfig{
			Broker: b, ClientID: "carpd-health-" + tag, Topic: h.Topic + "/" + tag,
			Interval: h.Interval, Timeout: h.Timeout, Failures: h.Failures,
			OnChange: func(healthy bool, _ error) { s.setUnhealthy("health", !healthy) },
			Logger:   log,
		})
		if err != nil {
			return nil, err
		}
	}
	if cfg.NAT == "dnat" {
		s.nat = newNATMgr(addr, cfg.Ports, s.log, dp)
	}
	if cfg.Probe != nil {
		s.probe = newProbeRunner(s, b)
	}
	if cfg.HomeAssistant.Enabled {
		s.hass = newHassSvc(s, b, c.Version)
	}
	return s, nil
}

// client says how carpd's own MQTT clients reach the local broker.
func (s *Service) client() (mosquitto.Broker, error) {
	b := mosquitto.Broker{Addr: s.addr.String(), Username: s.cfg.Username,
		Password: s.cfg.Password, Timeout: 2 * time.Second, Keepalive: 5 * time.Second}
	if t := s.cfg.TLS; t != (config.BrokerTLS{}) {
		var err error
		if b.TLS, err = (mosquitto.TLSFiles{CAFile: t.CA, CertFile: t.Cert, KeyFile: t.Key}).Config(); err != nil {
			return b, fmt.Errorf("broker TLS: %w", err)
		}
	}
	return b, nil
}

// Start removes a DNAT table left by a killed carpd, then starts the
// broker (stopping one left behind, by its pid file), its health check
// and the probe.
func (s *Service) Start() {
	if s.nat != nil {
		s.nat.reset()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.handleEvents()
	}()
	go func() {
		defer close(s.childDone)
		if err := s.child.Run(s.ctx); err != nil {
			s.log.Error("broker supervision ended", "error", err)
			s.setUnhealthy("stopped", true)
		}
	}()
	if s.health != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.health.Run(s.ctx)
		}()
	}
	if s.probe != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.probe.run(s.ctx)
		}()
		if s.HeartbeatOn() {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.publishHeartbeats(s.ctx)
			}()
		}
	}
	if s.nat != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.verifyNAT(s.ctx)
		}()
	}
	if s.hass != nil {
		s.hass.start()
	}
	s.log.Info("supervising the broker", "cmd", s.cfg.Command, "addr", s.addr.String(),
		"on_promote", s.cfg.OnPromote, "on_demote", s.cfg.OnDemote, "nat", s.cfg.NAT,
		"garp_before_ready", s.cfg.GARPBeforeReady)
}

// verifyEvery is how often the DNAT table is read back (natMgr.verify):
// a firewall reload that flushes every table takes the VIP's port away
// for at most this long, for one netlink dump a second.
const verifyEvery = time.Second

// verifyNAT checks the DNAT table every verifyEvery until ctx ends.
func (s *Service) verifyNAT(ctx context.Context) {
	t := time.NewTicker(verifyEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.nat.verify()
		}
	}
}

// Stop ends the Home Assistant publisher first (its goodbye needs the
// broker), then the checks, and stops the broker last, after the routers
// have left (their DNAT removed), then makes sure no DNAT table is left.
func (s *Service) Stop() {
	if s.hass != nil {
		s.hass.stop()
	}
	s.interrupt()
	s.cancel()
	<-s.childDone
	s.wg.Wait()
	if s.nat != nil {
		s.nat.reset()
	}
	s.log.Info("broker stopped")
}

// Interrupt ends the steps' restarts and readiness waits: shutdown has
// begun.
func (s *Service) Interrupt() { s.interrupt() }

// onEvent is the Child's event callback: it must not block.
func (s *Service) onEvent(ev supervisor.Event) {
	select {
	case s.events <- ev:
	default:
	}
}

// handleEvents turns child events into health changes and status updates.
func (s *Service) handleEvents() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case ev := <-s.events:
			switch ev.Kind {
			case supervisor.EventCrashLoop:
				s.setUnhealthy("crash loop", true)
			case supervisor.EventCrashLoopOver:
				s.setUnhealthy("crash loop", false)
			}
			s.host.StatusChanged()
		}
	}
}

// setUnhealthy records one reason for the broker being unhealthy and tells
// the routers when the overall state changes.
func (s *Service) setUnhealthy(why string, on bool) {
	s.mu.Lock()
	was := len(s.unhealthy) > 0
	if on {
		s.unhealthy[why] = struct{}{}
	} else {
		delete(s.unhealthy, why)
	}
	is := len(s.unhealthy) > 0
	s.mu.Unlock()
	if s.ctx.Err() != nil || was == is {
		s.host.StatusChanged()
		return
	}
	s.host.BrokerHealth(is, s.cfg.Health.Weight, why)
}

// Health reports whether the broker currently demotes the routers, and by
// how much.
func (s *Service) Health() (unhealthy bool, weight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unhealthy) > 0, s.cfg.Health.Weight
}

// restart restarts the broker and waits for its readiness, unless another
// transition restarted it since queued (several routers promoted at
// once restart it once).
func (s *Service) restart(queued time.Time, why string) error {
	s.mu.Lock()
	if s.restartedAt.After(queued) {
		s.mu.Unlock()
		return s.waitReady()
	}
	s.restartedAt = time.Now()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.stepCtx, s.cfg.StopTimeout+s.cfg.ReadyTimeout)
	defer cancel()
	res, err := s.child.Restart(ctx)
	if err != nil {
		return err
	}
	s.log.Info("broker restarted", "reason", why, "stop", res.Stop, "ready", res.Ready, "took", res.Total)
	return nil
}

// waitReady waits, bounded by the readiness timeout, until the broker
// passed its readiness check.
func (s *Service) waitReady() error {
	deadline := time.Now().Add(s.cfg.ReadyTimeout)
	for !s.child.State().Ready {
		if time.Now().After(deadline) {
			return fmt.Errorf("broker not ready within %v", s.cfg.ReadyTimeout)
		}
		select {
		case <-s.stepCtx.Done():
			return errors.New("broker readiness: shutting down")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Status reports the broker for the daemon's Status.
func (s *Service) Status() *status.Broker {
	cs := s.child.State()
	st := &status.Broker{Addr: s.addr.String(), Phase: cs.Phase.String(), PID: cs.PID, Ready: cs.Ready,
		Restarts: cs.Restarts, Failures: cs.Failures, CrashLoop: cs.CrashLoop, LastError: cs.LastErr,
		NAT: status.NAT{Mode: s.cfg.NAT, Rules: []string{}}}
	if cs.PID != 0 {
		st.Uptime = cs.Uptime.Round(time.Millisecond).String()
	}
	if cs.TimeToReady > 0 {
		st.TimeToReady = cs.TimeToReady.Round(time.Millisecond).String()
	}
	if !cs.LastExit.At.IsZero() {
		st.LastExit = cs.LastExit.String()
	}
	s.mu.Lock()
	for why := range s.unhealthy {
		st.Unhealthy = append(st.Unhealthy, why)
	}
	s.mu.Unlock()
	slices.Sort(st.Unhealthy)
	if s.health != nil {
		h := s.health.Status()
		st.Health = &status.Health{Healthy: h.Healthy, Failures: h.Failures, LastOK: h.LastOK, LastErr: h.LastErr}
		if h.RTT > 0 {
			st.Health.RTT = h.RTT.String()
		}
	}
	if s.nat != nil {
		st.NAT.Rules, st.NAT.LastError = s.nat.status()
	}
	if s.probe != nil {
		st.Probe = s.probe.status()
	}
	return st
}

//go:build linux

package broker

import (
	"net/netip"
	"time"

	"github.com/carpd/carpd/supervisor"
)

// The daemon's executors call these as the steps named on each (see
// internal/daemon's BrokerSteps); an error is the step's failure, logged
// there with the step's name.

// GARPBeforeReady says whether the gratuitous ARP / NA burst goes before
// the broker restart instead of after its readiness (garp_before_ready).
func (s *Service) GARPBeforeReady() bool { return s.cfg.GARPBeforeReady }

// ApplyDNAT is step dnat-apply: router's rules and every other MASTER
// router's, applied as one table.
func (s *Service) ApplyDNAT(router string, vips []netip.Prefix) error {
	if s.nat == nil {
		return nil
	}
	return s.nat.set(router, vips)
}

// RemoveDNAT is step dnat-remove: the table without router's rules.
func (s *Service) RemoveDNAT(router string) error {
	if s.nat == nil {
		return nil
	}
	return s.nat.set(router, nil)
}

// FlushConntrack is step conntrack-flush.
func (s *Service) FlushConntrack(vips []netip.Prefix) error {
	if s.nat == nil {
		return nil
	}
	return s.nat.flush(vips)
}

// ResetClients is step client-reset.
func (s *Service) ResetClients(vips []netip.Prefix) error {
	if s.nat == nil {
		return nil
	}
	return s.nat.resetClients(vips)
}

// Promoted is step broker-ready: a restart with on_promote: restart, then
// the readiness wait.
//
// The restart gives the new master's clients a broker that nobody used as
// master before. With DNAT, a broker process started since this node last
// served as MASTER already is one: it listens on the static address and
// has had no client through a VIP. Restarting it again only delays the
// gratuitous ARP by a restart, and loses its retained messages without
// persistence. That is the common case: a node returning after a reboot
// and preempting within seconds of its broker's start, or a backup taking
// over whose broker started with carpd. Without DNAT the broker may need
// the restart to listen on the VIP it now holds, so it always restarts.
func (s *Service) Promoted(queued time.Time) error {
	defer s.served()
	if s.cfg.OnPromote != "restart" {
		return s.waitReady()
	}
	if started, ok := s.fresh(); ok {
		// Routers promoted in the same batch find it fresh too, through
		// restart's check, though served() runs in between.
		s.mu.Lock()
		s.restartedAt = time.Now()
		s.mu.Unlock()
		s.log.Info("broker not restarted: started since this node last served as master",
			"started", started.Format(time.RFC3339Nano))
		return s.waitReady()
	}
	return s.restart(queued, "promotion")
}

// fresh reports whether the running broker was started after this node
// last served as master, with DNAT, and when it was started.
func (s *Service) fresh() (time.Time, bool) {
	if s.cfg.NAT != "dnat" {
		return time.Time{}, false
	}
	st := s.child.State()
	s.mu.Lock()
	served := s.servedAt
	s.mu.Unlock()
	return st.Started, st.Phase == supervisor.Running && st.Started.After(served)
}

// served records that a router of this node serves, or served until now,
// as MASTER.
func (s *Service) served() {
	s.mu.Lock()
	s.servedAt = time.Now()
	s.mu.Unlock()
}

// Demoted is step broker-demote: a restart with on_demote: restart.
func (s *Service) Demoted(queued time.Time) error {
	s.served()
	if s.cfg.OnDemote == "restart" {
		return s.restart(queued, "demotion")
	}
	return nil
}

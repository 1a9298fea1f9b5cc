//go:build linux

package broker

import (
	"net/netip"
	"time"
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
func (s *Service) Promoted(queued time.Time) error {
	if s.cfg.OnPromote == "restart" {
		return s.restart(queued, "promotion")
	}
	return s.waitReady()
}

// Demoted is step broker-demote: a restart with on_demote: restart.
func (s *Service) Demoted(queued time.Time) error {
	if s.cfg.OnDemote == "restart" {
		return s.restart(queued, "demotion")
	}
	return nil
}

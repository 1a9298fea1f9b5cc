package carp

import (
	"fmt"
	"net/netip"
	"time"
)

// Operator actions on a running Machine: a requested step-down and a live
// configuration change. They sit apart from the protocol rules because no
// advert causes them; the daemon calls them on SIGUSR2, `carpd demote`
// style forced step-downs and SIGHUP.

// Resign steps a MASTER down to BACKUP on request ("step down requested"):
// it first sends the bow-out Shutdown sends (CARP 255/255, VRRP priority 0)
// so a backup takes over at once, then restarts the master-down timer as a
// fresh BACKUP would. ucarp does the same on SIGUSR2 (src/carp.c sighandler_usr),
// except that it sends no bow-out and makes its peer wait.
//
// With preemption on, a node more preferred than the new master takes the
// role back at the new master's first advert; a lasting step-down needs
// demotion (SetDemotion). Resign outside MASTER does nothing.
func (m *Machine) Resign(now time.Time) []Action {
	if m.state != Master {
		return nil
	}
	m.acts = m.acts[:0]
	m.acts = append(m.acts, Action{Kind: ActSend, Advert: m.bowOut(), Reason: "step down requested"})
	// No master is known until the peer that claims advertises.
	m.stepDown(now, netip.Addr{}, "step down requested")
	return m.out()
}

// Reconfigure replaces the configuration of a running Machine without
// leaving its state, for a reload that changes timers, priority, preemption
// or the primary address. The protocol and id cannot change (that is
// another virtual router: shut this one down and start a new one); an
// invalid c is refused. Either error leaves the Machine untouched.
//
// The demotion weight is kept and applied to the new values. A MASTER
// advertises the new values at once and restarts its advertisement timer,
// as it does for a demotion change (OpenBSD ip_carp.c
// carp_group_demote_adj). A BACKUP keeps waiting for its master, but never
// longer than the new master-down interval from now, so shorter timers
// take effect at once and longer ones at the next advert. In INIT the
// values are used by the next Start.
func (m *Machine) Reconfigure(now time.Time, c Config) ([]Action, error) {
	if c.Proto != m.cfg.Proto || c.ID != m.cfg.ID {
		return nil, fmt.Errorf("reconfiguring %v id %d as %v id %d: protocol and id cannot change",
			m.cfg.Proto, m.cfg.ID, c.Proto, c.ID)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("reconfiguring %v id %d: %w", c.Proto, c.ID, err)
	}
	m.cfg = c
	m.adv = m.advert()
	if c.Proto != ProtoVRRP3 || !m.master.IsValid() || m.state == Master {
		// A v3 BACKUP that follows a master keeps the interval it adopted
		// (RFC 5798 §6.4.2); everyone else uses the configured one.
		m.mai = c.Interval
	}
	m.acts = m.acts[:0]
	switch m.state {
	case Master:
		m.master = c.Addr
		m.send(now, "reconfigured")
	case Backup:
		if d := now.Add(m.downInterval()); d.Before(m.deadline) {
			m.deadline = d
		}
	}
	return m.out(), nil
}

// bowOut is the advert a leaving MASTER sends so backups take over at
// once: CARP advbase 255 and advskew 255 (OpenBSD carp_ifdown; both must be
// 255 or a ucarp backup keeps waiting), VRRP priority 0 (RFC 5798 §6.4.3,
// keepalived on SIGTERM).
func (m *Machine) bowOut() Advert {
	bow := m.adv
	if m.cfg.isVRRP() {
		bow.Priority = 0
	} else {
		bow.AdvBase, bow.AdvSkew = 255, 255
	}
	return bow
}

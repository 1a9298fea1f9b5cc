package daemon

import "github.com/carpd/carpd/carp"

// brokerPromotion is the part of a promotion between the VIPs and the
// hooks: without a broker, the gratuitous ARP alone.
func (e *executor) brokerPromotion() []step {
	garp := step{"garp", e.claimAnnounce}
	if e.bsvc == nil {
		return []step{garp}
	}
	steps := []step{{"dnat-apply", e.applyDNAT}, {"conntrack-flush", e.flushConntrack}}
	broker := step{"broker-ready", e.brokerPromoted}
	if e.bsvc.GARPBeforeReady() {
		return append(steps, garp, broker)
	}
	return append(steps, broker, garp)
}

func (e *executor) applyDNAT(*job) error { return e.bsvc.ApplyDNAT(e.spec.Name, e.spec.VIPs) }

func (e *executor) removeDNAT(*job) error { return e.bsvc.RemoveDNAT(e.spec.Name) }

func (e *executor) flushConntrack(*job) error { return e.bsvc.FlushConntrack(e.spec.VIPs) }

// flushAfterMaster flushes on leaving MASTER only: other demotions (the
// first INIT → BACKUP) had no flows to the VIPs.
func (e *executor) flushAfterMaster(j *job) error {
	if j.from != carp.Master {
		return nil
	}
	return e.bsvc.FlushConntrack(e.spec.VIPs)
}

// resetClients runs on leaving MASTER only, like flushAfterMaster.
func (e *executor) resetClients(j *job) error {
	if j.from != carp.Master {
		return nil
	}
	return e.bsvc.ResetClients(e.spec.VIPs)
}

func (e *executor) brokerPromoted(j *job) error { return e.bsvc.Promoted(j.queued) }

func (e *executor) brokerDemoted(j *job) error {
	if j.from != carp.Master {
		return nil
	}
	return e.bsvc.Demoted(j.queued)
}

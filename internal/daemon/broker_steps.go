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
	if e.bsvc.garpBeforeReady() {
		return append(steps, garp, broker)
	}
	return append(steps, broker, garp)
}

func (e *executor) applyDNAT(*job) error { return e.bsvc.natApply(e.spec.Name, e.spec.VIPs) }

func (e *executor) removeDNAT(*job) error { return e.bsvc.natRemove(e.spec.Name) }

func (e *executor) flushConntrack(*job) error { return e.bsvc.flushConntrack(e.spec.VIPs) }

// flushAfterMaster flushes on leaving MASTER only: other demotions (the
// first INIT → BACKUP) had no flows to the VIPs.
func (e *executor) flushAfterMaster(j *job) error {
	if j.from != carp.Master {
		return nil
	}
	return e.bsvc.flushConntrack(e.spec.VIPs)
}

// resetClients runs on leaving MASTER only, like flushAfterMaster.
func (e *executor) resetClients(j *job) error {
	if j.from != carp.Master {
		return nil
	}
	return e.bsvc.resetClients(e.spec.VIPs)
}

func (e *executor) brokerPromoted(j *job) error { return e.bsvc.promoted(j.queued) }

func (e *executor) brokerDemoted(j *job) error {
	if j.from != carp.Master {
		return nil
	}
	return e.bsvc.demoted(j.queued)
}

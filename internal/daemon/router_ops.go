package daemon

import (
	"fmt"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// Operator and lifecycle requests to a router. Each runs on the router
// goroutine through post, or call when the caller waits for the answer.

// call runs f on the router goroutine and returns once the router's status
// shows its effect: the loop publishes only after f returns, so without
// this a `carpd demote` followed at once by `carpd status` could read the
// old priority. It reports false if the router stopped without running f:
// ctl is buffered, so f can be queued behind the shutdown and never run,
// and waiting for it alone would hang the caller (a control request during
// shutdown).
func (r *router) call(f func(time.Time)) bool {
	ran := make(chan struct{})
	if !r.post(func(now time.Time) {
		defer close(ran)
		f(now)
		r.publish()
	}) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-r.done:
		// f runs on the router goroutine before done closes, if at all.
		select {
		case <-ran:
			return true
		default:
			return false
		}
	}
}

// demote adds n to the manual demotion counter (reset first sets it to 0)
// and returns the new value, as OpenBSD `ifconfig -g carp carpdemote n`
// adjusts its counter; the counter stays within 0..255.
func (r *router) demote(n int, reset bool) (int, error) {
	var got int
	if !r.call(func(now time.Time) {
		if reset {
			r.manual = 0
		}
		r.manual = min(max(r.manual+n, 0), maxManual)
		r.log.Info("manual demotion", "demote", r.manual, "by", n, "reset", reset)
		r.applyDemotion(now)
		got = r.manual
	}) {
		return 0, fmt.Errorf("router %s is stopped", r.base.Name)
	}
	return got, nil
}

// resign steps down once if MASTER (SIGUSR2, like ucarp).
func (r *router) resign() {
	r.post(func(now time.Time) {
		if r.m.State() != carp.Master {
			return
		}
		r.log.Info("stepping down on request")
		r.do(now, r.m.Resign(now))
	})
}

// claimResult is the executor's report on a promotion's VIP step. A
// failed claim demotes the router and, if it is still MASTER, steps it
// down with a bow-out, so a healthy peer takes over at once even without
// preemption (CARP backups do not preempt by default). The demotion is
// lifted by the next good claim or after the hold time; without a peer
// the router claims again after its master-down interval, which retries
// the VIPs.
func (r *router) claimResult(ok bool) {
	r.post(func(now time.Time) {
		if ok {
			if r.claimFail {
				r.claimFail = false
				r.claimLift.Stop()
				r.log.Info("VIPs claimed; lifting the claim-failure demotion")
				r.applyDemotion(now)
			}
			return
		}
		hold := r.d.opts.ClaimHold
		r.log.Error("claiming the VIPs failed; demoting", "weight", claimFailWeight, "hold", hold)
		r.claimFail = true
		if r.claimLift != nil {
			r.claimLift.Stop()
		}
		r.claimLift = time.AfterFunc(hold, func() {
			r.post(func(now time.Time) {
				if r.claimFail {
					r.claimFail = false
					r.log.Info("claim-failure demotion expired")
					r.applyDemotion(now)
				}
			})
		})
		r.applyDemotion(now)
		if r.m.State() == carp.Master {
			r.doFor(now, r.m.Resign(now), cause{reason: "claiming the VIPs failed"})
		}
	})
}

// shutdown leaves the router for good: a MASTER bows out, the executor
// removes the VIPs, runs the down hooks if it was MASTER, and notifies
// STOP (keepalived's SIGTERM order: vrrp_daemon.c restore_vrrp_interfaces before notify_shutdown). The router
// goroutine then ends; the executor finishes its queue.
func (r *router) shutdown(why string) {
	r.post(func(now time.Time) {
		r.scripts.stop()
		if r.claimLift != nil {
			r.claimLift.Stop()
		}
		if r.m.State() == carp.Init {
			// Faulted or never started: nothing to leave, but keepalived
			// still notifies STOP for every instance.
			r.exec.enqueue(job{kind: jobDemote, from: carp.Init, to: carp.Init, notify: "STOP",
				reason: why, queued: now, prio: r.prio()})
			r.setSnap(carp.Init, now, why)
		} else {
			if r.m.State() == carp.Master {
				// Before the bow-out goes out: see executor.awaitClaim.
				r.openClaims(now)
			}
			r.doFor(now, r.m.Shutdown(now), cause{reason: why, notify: "STOP"})
		}
		r.quit = true
	})
	<-r.done
	r.exec.close()
}

// maxHold bounds how long a MASTER that leaves keeps its VIPs waiting for
// the new master's claim, whatever its interval.
const maxHold = 3 * time.Second

// holdTime is how long a MASTER that leaves waits for the new master's
// claim: one advertisement interval, in which a backup that heard a
// bow-out or priority 0 takes over, plus 100 ms, at most maxHold.
func (r *router) holdTime() time.Duration {
	ad := r.m.Advertised()
	hold := ad.Interval
	if ad.Proto == carp.ProtoCARP {
		hold = carp.Interval(ad.AdvBase, ad.AdvSkew)
	}
	return min(hold+100*time.Millisecond, maxHold)
}

// openClaims opens the claim watch for the next demotion of a MASTER, to
// BACKUP or, on shutdown, to INIT (see executor.awaitClaim). Without VIPs
// managed by carpd, or when the watch cannot be opened, the demotion
// proceeds at once.
func (r *router) openClaims(now time.Time) {
	if r.claims != nil || r.spec.VIPByScripts || len(r.spec.VIPs) == 0 {
		return
	}
	w, err := r.d.net.WatchClaims(r.spec.Iface)
	if err != nil {
		r.log.Warn("cannot watch for the new master's gratuitous ARP or NA; letting go at once", "error", err)
		return
	}
	r.claims, r.claimsUntil = w, now.Add(r.holdTime())
}

// update applies a reloaded spec that keeps the socket, protocol and id:
// new timers, priority or preemption through Machine.Reconfigure, new
// password or VIPs through fresh codecs, hooks, GARP and VIP list through
// the executor, tracking by restarting the trackers.
func (r *router) update(n *config.Router, user *config.ScriptUser) error {
	var err error
	if !r.call(func(now time.Time) { err = r.apply(now, n, user) }) {
		return fmt.Errorf("router %s is stopped", n.Name)
	}
	return err
}

func (r *router) apply(now time.Time, n *config.Router, user *config.ScriptUser) error {
	enc, err := newEncoder(n, r.rp)
	if err != nil {
		return err
	}
	dec, err := newDecoder(n, r.rp)
	if err != nil {
		return err
	}
	var acts []carp.Action
	if n.Machine != r.spec.Machine {
		a, err := r.m.Reconfigure(now, n.Machine)
		if err != nil {
			return err
		}
		acts = append([]carp.Action(nil), a...)
	}
	old := r.spec
	r.spec, r.user, r.enc = n, user, enc
	r.log = r.d.log.With(logAttrs(n)...)
	r.sock.set(r.rxEntry(dec), false)
	r.setSpecSnap()
	r.exec.enqueue(job{kind: jobSpec, spec: n, user: user, queued: now})
	r.scripts.update(now, n.TrackScripts)
	r.retrack(now, old)
	r.do(now, acts)
	r.applyDemotion(now)
	r.log.Info("reloaded")
	return nil
}

// retrack re-reads link states whose meaning changed with a reload: the
// router's own link when IgnoreIfState flipped, and the tracked
// interfaces, added, removed or reweighted. Unchanged states change
// nothing, so a reload does not flap a faulted router.
func (r *router) retrack(now time.Time, old *config.Router) {
	if r.spec.IgnoreIfState {
		r.setFault(now, faultLinkDown, false)
	} else if old.IgnoreIfState {
		if up, err := r.d.net.LinkUp(r.spec.Iface); err == nil && !up {
			r.setFault(now, faultLinkDown, true)
		}
	}
	want := make(map[string]bool)
	for _, ti := range r.spec.TrackInterfaces {
		want["interface "+ti.Iface] = true
	}
	for _, ti := range old.TrackInterfaces {
		if name := "interface " + ti.Iface; !want[name] {
			r.clearTracker(now, name)
		}
	}
	for _, ti := range r.spec.TrackInterfaces {
		up, err := r.d.net.LinkUp(ti.Iface)
		r.trackResult(now, "interface "+ti.Iface, ti.Weight, err != nil || !up)
	}
}

// rxEntry builds the socket entry for this router with dec.
func (r *router) rxEntry(dec *decoder) *rxEntry {
	return &rxEntry{name: r.spec.Name, proto: r.spec.Machine.Proto, id: r.spec.Machine.ID, dec: dec,
		ctr: r.ctr, deliver: r.deliver}
}

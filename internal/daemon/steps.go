package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/carpd/carpd/internal/link"
)

// step is one named, idempotent part of a transition.
type step struct {
	name string
	run  func(j *job) error
}

// promotion is the step list after entering MASTER, in the order docs/daemon.md gives.
// The advertisement that claims the router was already sent by the router
// goroutine. With a supervised broker, DNAT and the conntrack flush follow
// the VIPs, then the gratuitous ARP and the broker restart with its
// readiness, in the order garp_before_ready says (broker_steps.go).
//
// With VIPByScripts the scripts add the addresses, so up-hooks run before
// garp, as ucarp runs its upscript before its gratuitous ARP (ucarp src/carp.c
// carp_set_state).
func (e *executor) promotion() []step {
	if e.spec.VIPByScripts {
		return slices.Concat([]step{{"up-hooks", e.upHooks}}, e.brokerPromotion(),
			[]step{{"notify", e.notify}})
	}
	return slices.Concat([]step{{"vip-add", e.addVIPs}}, e.brokerPromotion(),
		[]step{{"up-hooks", e.upHooks}, {"notify", e.notify}})
}

// demotion is the step list after leaving MASTER (or starting in BACKUP,
// or stopping): the clients' connections are reset while the DNAT table
// still translates them, DNAT goes before the VIPs, the conntrack flush
// after them.
func (e *executor) demotion() []step {
	steps := []step{{"await-claim", e.awaitClaim}}
	if e.bsvc != nil {
		steps = append(steps, step{"client-reset", e.resetClients}, step{"dnat-remove", e.removeDNAT})
	}
	steps = append(steps, step{"vip-remove", e.removeVIPs})
	if e.bsvc != nil {
		steps = append(steps, step{"conntrack-flush", e.flushAfterMaster}, step{"broker-demote", e.brokerDemoted})
	}
	return append(steps, step{"down-hooks", e.downHooks}, step{"notify", e.notify})
}

// awaitClaim keeps the VIPs, DNAT and broker of a MASTER that another
// node displaced, or that bowed out on shutdown, until the new master's
// gratuitous ARP or unsolicited NA (not its answer to the watch's probe:
// link.ClaimWatch) shows that the neighbours moved, bounded by the job's
// claimsUntil. Letting go at once,
// as keepalived and ucarp do, leaves nobody answering for the VIP until
// then (the VRRP skew time after a priority 0), and a client reconnecting
// meanwhile (client-reset makes them reconnect) sends its SYN into the
// void and waits out its connect timeout. It never fails: a watch that
// sees nothing in time only delays the steps after it.
func (e *executor) awaitClaim(j *job) error {
	if j.claims == nil {
		return nil
	}
	defer j.claims.Close()
	ctx, cancel := context.WithDeadline(context.Background(), j.claimsUntil)
	defer cancel()
	// The watch reads ARP for IPv4 VIPs and NDP for IPv6 ones.
	var vips []netip.Addr
	for _, p := range e.spec.VIPs {
		vips = append(vips, p.Addr().Unmap())
	}
	start := time.Now()
	err := j.claims.Await(ctx, vips)
	attrs := []any{"seen", err == nil, "waited", time.Since(start)}
	if errors.Is(err, link.ErrHeld) {
		// It answered our probe but announced nothing while we waited:
		// its announcement, if any, went out before the watch opened.
		attrs = append(attrs, "held", true)
	}
	if err != nil && ctx.Err() == nil {
		attrs = append(attrs, "error", err)
	}
	e.log.Info("new master's claim", attrs...)
	return nil
}

// addVIPs adds every VIP and reports the outcome to the router: a failed
// claim demotes the node rather than crashing it (docs/daemon.md).
func (e *executor) addVIPs(*job) error {
	e.holding = true
	var errs []error
	if e.vlink != nil {
		if err := e.vlink(true); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range e.spec.VIPs {
		if err := e.addrs.Add(p, e.label); err != nil {
			errs = append(errs, fmt.Errorf("adding %v to %s: %w", p, e.spec.Iface, err))
		}
	}
	err := errors.Join(errs...)
	e.claimed(err == nil)
	return err
}

// claimAnnounce sends the first announce round of a claim and schedules
// the rest.
func (e *executor) claimAnnounce(*job) error {
	e.holding = true
	now := time.Now()
	e.schedule(now)
	if e.spec.GARP.Repeat <= 0 {
		return nil
	}
	return e.announce(now, "claim")
}

// removeVIPs removes every VIP; an absent address is not an error.
func (e *executor) removeVIPs(*job) error {
	if e.spec.VIPByScripts {
		return nil
	}
	var errs []error
	for _, p := range e.spec.VIPs {
		if err := e.addrs.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("removing %v from %s: %w", p, e.spec.Iface, err))
		}
	}
	if e.vlink != nil {
		// Down, the child neither answers ARP nor sends anything: a
		// backup never shows the virtual MAC to the switch.
		if err := e.vlink(false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// upHooks runs the up script once per VIP.
func (e *executor) upHooks(j *job) error {
	return e.scripts(j, "up", e.spec.Hooks.Up)
}

// downHooks runs the down script once per VIP when the job asks for it.
func (e *executor) downHooks(j *job) error {
	if !j.downHooks {
		return nil
	}
	return e.scripts(j, "down", e.spec.Hooks.Down)
}

// scripts runs base once per VIP with ucarp's arguments, one at a time.
func (e *executor) scripts(j *job, which string, base []string) error {
	if len(base) == 0 {
		return nil
	}
	env := hookEnv(e.spec, j.notify)
	var errs []error
	for _, p := range e.spec.VIPs {
		argv := scriptArgv(base, e.spec, p.Addr().String())
		if err := e.hook(which, argv, env); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// notify runs the hook of the state entered (hooks.master, …) as
// configured, then the notify hook with keepalived's arguments: the order
// and arguments of keepalived's notify_instance_exec (vrrp_notify.c). A
// failing state hook does not keep notify from running.
func (e *executor) notify(j *job) error {
	env := hookEnv(e.spec, j.notify)
	var errs []error
	if which, argv := stateHook(&e.spec.Hooks, j.notify); len(argv) > 0 {
		errs = append(errs, e.hook(which, slices.Clone(argv), env))
	}
	if len(e.spec.Hooks.Notify) > 0 {
		argv := notifyArgv(e.spec.Hooks.Notify, e.spec.Name, j.notify, j.prio)
		errs = append(errs, e.hook("notify", argv, env))
	}
	return errors.Join(errs...)
}

// hook runs one hook and logs its outcome and output.
func (e *executor) hook(which string, argv, env []string) error {
	ctx, done := e.hookContext()
	defer done()
	start := time.Now()
	out, err := runHook(ctx, argv, env, e.spec.Hooks.Timeout, e.user)
	if err != nil && errors.Is(context.Cause(ctx), errSuperseded) {
		err = fmt.Errorf("ended %v after %w", supersededGrace, errSuperseded)
	}
	attrs := []any{"hook", which, "argv", argv, "took", time.Since(start)}
	if len(out) > 0 {
		attrs = append(attrs, "output", strings.TrimRight(string(out), "\n"))
	}
	if err != nil {
		e.hookFails.add(which)
		return fmt.Errorf("%s hook %s: %w (output %q)", which, argv[0], err, truncate(out, 256))
	}
	e.log.Info("hook done", attrs...)
	return nil
}

// truncate returns at most n bytes of b as a string.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

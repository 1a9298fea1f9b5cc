package carp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// DownFormula selects how a CARP backup computes its master-down interval.
// The implementations disagree (docs/protocol.md §3.1), and mixing formulas in
// one virtual router only shifts who claims first, never correctness.
type DownFormula uint8

// Master-down formulas. Both use the advertised advskew, so a demoted
// backup (DemoteSkew) is deliberately slower to claim the address.
const (
	// DownFreeBSD is DeadRatio·advbase + advskew/256 seconds, as FreeBSD
	// ip_carp.c (ratio fixed at 3) and ucarp carp.c (ratio -r/--deadratio).
	DownFreeBSD DownFormula = iota
	// DownOpenBSD is DeadRatio·(advbase + advskew/256) seconds; with the
	// default ratio 3 it is OpenBSD ip_carp.c 1.370 carp_setrun.
	DownOpenBSD
)

func (f DownFormula) String() string {
	switch f {
	case DownFreeBSD:
		return "freebsd"
	case DownOpenBSD:
		return "openbsd"
	}
	return "unknown"
}

// DemoteMode selects how a CARP node expresses demotion on the wire.
type DemoteMode uint8

// Demotion modes.
const (
	// DemoteSkew adds the demotion weight to the advertised advskew,
	// clamped to FreeBSD's CARP_MAXSKEW (240) but never below the
	// configured advskew (FreeBSD net.inet.carp.demotion). Every CARP
	// implementation understands it.
	DemoteSkew DemoteMode = iota
	// DemoteByte sends the weight in header byte 4 (OpenBSD carpdemote),
	// which peers compare before timing. Only OpenBSD and carpd read it.
	DemoteByte
)

func (d DemoteMode) String() string {
	switch d {
	case DemoteSkew:
		return "skew"
	case DemoteByte:
		return "byte"
	}
	return "unknown"
}

// Limits from the protocols.
const (
	// maxSkew is FreeBSD ip_carp.h CARP_MAXSKEW: demotion never pushes the
	// advertised advskew past it, leaving 255 for the bow-out.
	maxSkew = 240
	// ownerPriority is the VRRP address owner (RFC 5798 §5.2.4).
	ownerPriority = 255
	// v3Tick is the VRRPv3 Max Adver Int unit (RFC 5798 §5.2.7).
	v3Tick = 10 * time.Millisecond
	// v3MaxInterval is the largest 12-bit Max Adver Int, 4095 centiseconds.
	v3MaxInterval = 4095 * v3Tick
	// maxPreemptDelay is keepalived's preempt_delay limit (1000 s).
	maxPreemptDelay = 1000 * time.Second
)

// Config describes one virtual router. Fields that do not apply to the
// configured protocol are ignored, except PreemptDelay, which Validate
// rejects for CARP so a misplaced setting is not silently dropped.
//
// Demotion (Machine.SetDemotion with weight w ≥ 0) maps onto the wire as
// follows, and only ever makes this node less preferred:
//
//   - CARP, DemoteSkew: advertised advskew = max(AdvSkew, min(AdvSkew+w, 240)),
//     FreeBSD net.inet.carp.demotion clamped at CARP_MAXSKEW.
//   - CARP, DemoteByte: header demote byte = min(w, 255), OpenBSD carpdemote;
//     peers compare it before timing (lower wins).
//   - VRRP: priority = clamp(Priority − w, 1, 254), keepalived's effective
//     priority; the address owner (255) is never demoted.
//
// A MASTER whose advertised values change re-advertises at once (OpenBSD
// ip_carp.c carp_group_demote_adj); a BACKUP uses the new values the next
// time it restarts its master-down timer.
type Config struct {
	Proto Proto
	ID    uint8 // vhid (CARP) or VRID (VRRP), 1..255

	// Addr is our primary address: the VRRP tie-break and the CARP
	// TieBreakIP compare it, and adverts from it are dropped as loops.
	Addr netip.Addr

	// CARP timing: one advert every AdvBase + AdvSkew/256 seconds.
	AdvBase   uint8
	AdvSkew   uint8
	DeadRatio uint8 // master-down multiplier; 0 means 3 (ucarp -r)
	Down      DownFormula
	Demote    DemoteMode

	// TieBreakIP breaks equal CARP timing by address the way ucarp does on
	// little-endian hosts (see carpYields). Off, equal timing steps the
	// master down as on OpenBSD and FreeBSD.
	TieBreakIP bool

	// VRRP: Priority 1..255 (255 = address owner). Interval is whole
	// seconds 1..255 for v2 (RFC 3768 §5.3.7) and 10 ms..40.95 s in 10 ms
	// steps for v3 (RFC 5798 §5.2.7).
	Priority uint8
	Interval time.Duration
	// PreemptDelay holds off preemption for this long after Start or after
	// a lower-priority master is first seen (keepalived preempt_delay).
	PreemptDelay time.Duration

	// Preempt lets a more preferred backup take over from a less preferred
	// master. DefaultConfig sets it false for CARP (BSD sysctl
	// net.inet.carp.preempt=0, ucarp without -P) and true for VRRP
	// (RFC 5798 §6.1 Preempt_Mode default).
	Preempt bool
	// IgnoreTTL skips the TTL 255 check, for unicast peers (keepalived
	// unicast_peer does the same).
	IgnoreTTL bool
}

// DefaultConfig returns the protocol defaults for a virtual router: CARP
// advbase 1, advskew 0, dead ratio 3, no preemption; VRRP priority 100,
// one-second interval, preemption on. Addr is left for the caller to set.
func DefaultConfig(p Proto, id uint8) Config {
	c := Config{Proto: p, ID: id}
	switch p {
	case ProtoCARP:
		c.AdvBase = 1
		c.DeadRatio = 3
	case ProtoVRRP2, ProtoVRRP3:
		c.Priority = 100
		c.Interval = time.Second
		c.Preempt = true
	}
	return c
}

// Validate reports the first setting that no peer implementation accepts.
func (c Config) Validate() error {
	if c.ID == 0 {
		return errors.New("virtual router id 0 is not valid (1..255)")
	}
	if !c.Addr.IsValid() {
		return errors.New("primary address is not set")
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > maxPreemptDelay {
		return fmt.Errorf("preempt delay %v is outside 0..%v", c.PreemptDelay, maxPreemptDelay)
	}
	switch c.Proto {
	case ProtoCARP:
		return c.validateCARP()
	case ProtoVRRP2, ProtoVRRP3:
		return c.validateVRRP()
	}
	return fmt.Errorf("protocol %v is not carp, vrrp2 or vrrp3", c.Proto)
}

func (c Config) validateCARP() error {
	switch {
	case c.AdvSkew == 255:
		// OpenBSD and FreeBSD reject advskew ≥ 255; 255/255 is the bow-out.
		return errors.New("carp advskew 255 is reserved for the bow-out (0..254)")
	case c.AdvBase == 0 && c.AdvSkew == 0:
		// ucarp refuses it; OpenBSD would advertise 256 times a second.
		return errors.New("carp advbase 0 needs a non-zero advskew")
	case c.Down > DownOpenBSD:
		return fmt.Errorf("unknown master-down formula %d", c.Down)
	case c.Demote > DemoteByte:
		return fmt.Errorf("unknown demotion mode %d", c.Demote)
	case c.PreemptDelay != 0:
		return errors.New("preempt delay is a vrrp setting; carp preempts at once")
	}
	return nil
}

func (c Config) validateVRRP() error {
	if c.Priority == 0 {
		// RFC 5798 §5.2.4: priority 0 only signals a master stepping down.
		return errors.New("vrrp priority 0 is reserved for the stepping-down master (1..255)")
	}
	if c.Proto == ProtoVRRP2 {
		if c.Interval%time.Second != 0 || c.Interval < time.Second || c.Interval > 255*time.Second {
			return fmt.Errorf("vrrp2 interval %v is not whole seconds in 1s..255s", c.Interval)
		}
		return nil
	}
	if c.Interval%v3Tick != 0 || c.Interval < v3Tick || c.Interval > v3MaxInterval {
		return fmt.Errorf("vrrp3 interval %v is not a multiple of 10ms in 10ms..40.95s", c.Interval)
	}
	return nil
}

// deadRatio is DeadRatio with its default applied.
func (c Config) deadRatio() time.Duration {
	if c.DeadRatio == 0 {
		return 3
	}
	return time.Duration(c.DeadRatio)
}

// isVRRP reports whether c speaks either VRRP version.
func (c Config) isVRRP() bool {
	return c.Proto == ProtoVRRP2 || c.Proto == ProtoVRRP3
}

package carp

import (
	"cmp"
	"fmt"
	"net/netip"
	"time"
)

// skewUnit is one advskew step, 1/256 s (exactly 3,906,250 ns).
const skewUnit = time.Second / 256

// Interval is the CARP advertisement interval for (advbase, advskew):
// advbase + advskew/256 seconds. OpenBSD ip_carp.c carp_send_ad: if both
// are 0 the interval is 1/256 s rather than a busy loop.
func Interval(base, skew uint8) time.Duration {
	if base == 0 && skew == 0 {
		return skewUnit
	}
	return time.Duration(base)*time.Second + time.Duration(skew)*skewUnit
}

// compareTiming orders CARP timings: OpenBSD, FreeBSD and ucarp compare
// (advbase, advskew/256) as a timeval, which is lexicographic because
// advskew < 256. Smaller is more preferred.
func compareTiming(base1, skew1, base2, skew2 uint8) int {
	return cmp.Compare(uint16(base1)<<8|uint16(skew1), uint16(base2)<<8|uint16(skew2))
}

// carpDown is the master-down interval from our advertised timing. Using
// the advertised (demoted) advskew is deliberate: a demoted backup waits
// longer, so an undemoted one claims first (FreeBSD uses the raw advskew
// here; with demotion off the two agree).
func (m *Machine) carpDown() time.Duration {
	r := m.cfg.deadRatio()
	base, skew := m.adv.AdvBase, m.adv.AdvSkew
	if m.cfg.Down == DownOpenBSD {
		// OpenBSD ip_carp.c 1.370: 3 × (advbase + advskew/256).
		return r * Interval(base, skew)
	}
	// FreeBSD ip_carp.c and ucarp carp.c: deadratio·advbase + advskew/256.
	return r*time.Duration(base)*time.Second + time.Duration(skew)*skewUnit
}

// receiveCARP applies the receive rules (docs/protocol.md §3.2; OpenBSD
// and FreeBSD ip_carp.c carp_input, ucarp carp.c) to an advert from another
// node. It returns ErrBowOut, with no effect, for an advert that would
// make a BACKUP take over at once because the master leaves or will time
// out, when it does not come from the current master: the HMAC covers
// neither the timing nor the source, so anyone holding one captured
// advert could otherwise move the VIP.
func (m *Machine) receiveCARP(now time.Time, ad Advert) error {
	if m.state == Master {
		if yield, why := m.carpYields(ad); yield {
			m.preempted(now, ad.Src, "preempted by "+ad.Src.String()+" "+why)
		} else {
			m.announce(now, "less preferred master "+ad.Src.String()+" advertising ("+why+")")
		}
		return nil
	}
	d, own := ad.Demote, m.adv.Demote
	slower := compareTiming(ad.AdvBase, ad.AdvSkew, m.adv.AdvBase, m.adv.AdvSkew) > 0
	// The BSDs and ucarp compare the master's interval with deadratio ×
	// advbase alone, which at advbase 0 is 0: every advert of a master at
	// 0/26 then "will time out" for a backup at 0/92, which claims, is
	// preempted, and claims again about three times a second. Comparing
	// with our real master-down interval keeps the rule's meaning (this
	// master is slower than we would wait for) at every timing; at
	// advbase ≥ 1 it differs only for a master interval between deadratio
	// × advbase and that plus our advskew/256, which the timer would not
	// have timed out either.
	down := m.carpDown()
	timesOut := Interval(ad.AdvBase, ad.AdvSkew) > down
	fromMaster := ad.Src == m.master
	switch {
	case timesOut && !fromMaster:
		// Not the master we follow: our own master-down timer decides.
		return ErrBowOut
	case timesOut && ad.AdvBase == 255 && ad.AdvSkew == 255:
		// OpenBSD carp_ifdown sends 255/255 when leaving; the "master will
		// time out" rule below turns it into an immediate takeover.
		m.becomeMaster(now, "bow-out received from "+ad.Src.String())
	case m.cfg.Demote == DemoteByte && d > own:
		// OpenBSD ip_carp.c 1.370 carp_proto_input_c: a more demoted
		// master is replaced regardless of net.inet.carp.preempt.
		m.becomeMaster(now, fmt.Sprintf("preempting demoted master %v (demote %d > %d)", ad.Src, d, own))
	case m.cfg.Preempt && slower && d >= own:
		// OpenBSD/FreeBSD with net.inet.carp.preempt=1, ucarp -P.
		m.becomeMaster(now, "preempting slower master "+ad.Src.String()+" ("+
			timingDiff(ad, m.adv, ">")+")")
	case timesOut:
		// OpenBSD, FreeBSD, ucarp: "master will time out" when the peer
		// advertises more slowly than our master-down allows.
		m.becomeMaster(now, fmt.Sprintf("master %v will time out (interval %v > master-down %v)",
			ad.Src, Interval(ad.AdvBase, ad.AdvSkew), down))
	default:
		m.master = ad.Src
		m.resetDown(now)
	}
	return nil
}

// carpYields decides whether a MASTER steps down for the master that sent
// ad, and says why (or why not); docs/protocol.md §3.1. OpenBSD ip_carp.c 1.370: step down if
// (peer timing ≤ ours && d ≤ D) || d < D. The demote byte is compared in
// DemoteSkew mode too (ours is 0 there), since an OpenBSD peer may send
// one; FreeBSD ignores it.
//
// Equal timing (and demote) steps down as on both BSDs, unless TieBreakIP
// is set. Then we copy ucarp: it compares the raw network-order in_addr_t
// values as host integers, `ip_src.s_addr < srcip.s_addr`, so on the
// little-endian hosts it runs on the comparison starts at the LAST octet.
// The master yields iff the peer's octet-reversed address is below ours.
// Both ends evaluate the same order, so a tie with a real ucarp (on x86
// or arm64) converges on the same survivor on both sides.
func (m *Machine) carpYields(ad Advert) (bool, string) {
	d, own := ad.Demote, m.adv.Demote
	switch {
	case d < own:
		return true, fmt.Sprintf("demote %d < %d", d, own)
	case d > own:
		return false, fmt.Sprintf("demote %d > %d", d, own)
	}
	switch c := compareTiming(ad.AdvBase, ad.AdvSkew, m.adv.AdvBase, m.adv.AdvSkew); {
	case c < 0:
		return true, timingOf(ad)
	case c > 0:
		return false, timingDiff(ad, m.adv, ">")
	}
	if !m.cfg.TieBreakIP {
		return true, timingOf(ad) + " (equal timing)"
	}
	if reversedLess(ad.Src, m.cfg.Addr) {
		return true, timingOf(ad) + " (equal timing, lower reversed address)"
	}
	return false, "equal timing " + timingOf(ad) + ", higher reversed address"
}

// reversedLess compares addresses byte by byte from the last byte, which
// for IPv4 is ucarp's in_addr_t comparison on a little-endian host.
// ucarp has no IPv6; reversing all 16 bytes is the same rule extended.
func reversedLess(a, b netip.Addr) bool {
	if a.Is4() != b.Is4() {
		return a.Is4()
	}
	x, y := a.As16(), b.As16()
	for i := 15; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// timingOf names a peer's timing the way operators configure it.
func timingOf(ad Advert) string {
	if ad.AdvBase == 1 {
		return fmt.Sprintf("advskew %d", ad.AdvSkew)
	}
	return fmt.Sprintf("advbase %d advskew %d", ad.AdvBase, ad.AdvSkew)
}

// timingDiff shows the field in which peer and own timing differ.
func timingDiff(peer, own Advert, op string) string {
	if peer.AdvBase != own.AdvBase {
		return fmt.Sprintf("advbase %d %s %d", peer.AdvBase, op, own.AdvBase)
	}
	return fmt.Sprintf("advskew %d %s %d", peer.AdvSkew, op, own.AdvSkew)
}

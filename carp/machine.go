package carp

import (
	"fmt"
	"net/netip"
	"time"
)

// ActionKind says what an Action asks the caller to do.
type ActionKind uint8

// Action kinds.
const (
	// ActSend asks for Action.Advert to be encoded and sent now.
	ActSend ActionKind = iota + 1
	// ActState reports a state change from Action.From to Action.To.
	ActState
	// ActAnnounce asks for the virtual addresses to be re-announced now
	// (gratuitous ARP / unsolicited NA): another, less preferred master
	// is advertising, so some hosts may have learned its MAC. ucarp calls
	// this "non-preferred master advertising"; keepalived garp_lower_prio.
	ActAnnounce
)

func (k ActionKind) String() string {
	switch k {
	case ActSend:
		return "send"
	case ActState:
		return "state"
	case ActAnnounce:
		return "announce"
	}
	return "unknown"
}

// Action is one thing the caller must do, in slice order. Reason is a
// short human explanation for logs and status.
type Action struct {
	Kind     ActionKind
	Advert   Advert // ActSend: the fields to put on the wire
	From, To State  // ActState
	Reason   string
}

// Machine is the state machine of one CARP or VRRP virtual router. It is
// pure: the caller feeds it times and decoded adverts and executes the
// actions it returns, and must call Tick once the clock reaches Deadline.
// A Machine is not safe for concurrent use.
//
// Every method that returns []Action returns a slice backed by a buffer
// the Machine reuses: it is valid only until the next call on the same
// Machine, so a steady-state advertisement costs no allocation. Copy it
// to keep it.
type Machine struct {
	cfg      Config
	state    State
	deadline time.Time
	master   netip.Addr
	weight   int    // demotion weight, ≥ 0
	adv      Advert // what we advertise, demotion applied
	acts     []Action

	// The reason the master-down timer will fire, kept as data so the
	// steady state formats no strings.
	cause downCause

	// VRRP only.
	mai       time.Duration // RFC 5798 §6.1 Master_Adver_Interval
	preemptAt time.Time     // no preemption before this (PreemptDelay)
	lowerSeen bool          // a lower-priority master has been heard
}

// downCause records why a BACKUP's master-down timer was last set.
type downCause struct {
	kind causeKind
	src  netip.Addr
	prio uint8
}

type causeKind uint8

const (
	causeSilence causeKind = iota // no advert within the interval
	causeZero                     // VRRP priority 0 received
	causeLower                    // VRRP lower-priority master discarded
)

// NewMachine validates c and returns a Machine in INIT.
func NewMachine(c Config) (*Machine, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("configuring %v id %d: %w", c.Proto, c.ID, err)
	}
	m := &Machine{cfg: c, mai: c.Interval, acts: make([]Action, 0, 4)}
	m.adv = m.advert()
	return m, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Deadline returns when Tick must next be called, or the zero time in INIT.
func (m *Machine) Deadline() time.Time { return m.deadline }

// Advertised returns the advert we send now, demotion applied.
func (m *Machine) Advertised() Advert { return m.adv }

// Master returns the last known master: our own address while MASTER, the
// source of the last accepted advert while BACKUP, or the zero Addr when
// unknown.
func (m *Machine) Master() netip.Addr { return m.master }

// Start moves INIT to BACKUP and starts the master-down timer, so a fresh
// node waits one master-down interval before claiming (OpenBSD ip_carp.c
// carp_setrun; RFC 5798 §6.4.1). A VRRP address owner (priority 255) goes
// straight to MASTER instead, advertising first (RFC 5798 §6.4.1). Start
// outside INIT does nothing.
func (m *Machine) Start(now time.Time) []Action {
	if m.state != Init {
		return nil
	}
	m.acts = m.acts[:0]
	m.master = netip.Addr{}
	m.mai = m.cfg.Interval
	m.lowerSeen = false
	m.preemptAt = now.Add(m.cfg.PreemptDelay)
	if m.cfg.isVRRP() && m.cfg.Priority == ownerPriority {
		m.becomeMaster(now, "started as address owner (priority 255)")
		return m.out()
	}
	m.setState(Backup, "started")
	m.resetDown(now)
	return m.out()
}

// Tick runs the timer that is due: MASTER sends its periodic advert,
// BACKUP claims mastership when the master-down timer fires. Calling it
// before Deadline does nothing.
func (m *Machine) Tick(now time.Time) []Action {
	if m.state == Init || m.deadline.IsZero() || now.Before(m.deadline) {
		return nil
	}
	m.acts = m.acts[:0]
	if m.state == Master {
		due := m.deadline
		m.send(now, "advertisement timer")
		// The next advert is due one interval after this one was due, not
		// after the timer fired: each wake-up is a little late (about
		// 0.5 ms under Go's timers, measured on the wire at 50 and 100
		// ms), and counting from it made the master advertise that much
		// slower than configured, every interval. A master more than an
		// interval behind starts afresh rather than sending a burst.
		if next := due.Add(m.advInterval()); next.After(now) {
			m.deadline = next
		}
		return m.out()
	}
	m.becomeMaster(now, m.downReason())
	return m.out()
}

// Receive processes one decoded advert. A non-nil error is the reason the
// advert was dropped without effect; callers count it. The checks follow
// RFC 5798 §7.1 (TTL first) and OpenBSD carp_input.
func (m *Machine) Receive(now time.Time, ad Advert) ([]Action, error) {
	if !m.cfg.IgnoreTTL && ad.TTL != 255 {
		// RFC 5798 §7.1, RFC 3768 §7.1; ucarp and OpenBSD check it too.
		return nil, ErrTTL
	}
	if ad.Proto != m.cfg.Proto || ad.ID != m.cfg.ID {
		return nil, ErrID
	}
	if ad.Src == m.cfg.Addr {
		return nil, ErrLoop
	}
	if err := m.checkInterval(ad); err != nil {
		return nil, err
	}
	if m.state == Init {
		return nil, nil
	}
	m.acts = m.acts[:0]
	var err error
	if m.cfg.isVRRP() {
		err = m.receiveVRRP(now, ad)
	} else {
		err = m.receiveCARP(now, ad)
	}
	if err != nil {
		return nil, err
	}
	return m.out(), nil
}

// checkInterval applies the VRRP interval rules: RFC 3768 §7.1 requires a
// v2 advert's interval to equal ours (keepalived: "advertisement interval
// mismatch"); a v3 interval of 0 cannot be adopted as
// Master_Adver_Interval, so it is dropped too.
func (m *Machine) checkInterval(ad Advert) error {
	switch m.cfg.Proto {
	case ProtoVRRP2:
		if ad.Interval != m.cfg.Interval {
			return ErrInterval
		}
	case ProtoVRRP3:
		if ad.Interval <= 0 {
			return ErrInterval
		}
	}
	return nil
}

// SetDemotion sets the demotion weight (≥ 0; negative counts as 0, and 0
// lifts demotion). See Config for how it maps onto each protocol. A
// MASTER whose advertised values change advertises them at once.
func (m *Machine) SetDemotion(now time.Time, weight int) []Action {
	weight = max(weight, 0)
	old := m.adv
	m.weight = weight
	m.adv = m.advert()
	if m.adv == old || m.state != Master {
		return nil
	}
	m.acts = m.acts[:0]
	m.send(now, demotionReason(old, m.adv))
	return m.out()
}

// Shutdown leaves the virtual router. A MASTER first sends a bow-out so
// backups take over at once instead of waiting out the master-down timer
// (see bowOut). Then it moves to INIT.
func (m *Machine) Shutdown(now time.Time) []Action {
	if m.state == Init {
		return nil
	}
	m.acts = m.acts[:0]
	if m.state == Master {
		m.acts = append(m.acts, Action{Kind: ActSend, Advert: m.bowOut(), Reason: "shutdown"})
	}
	m.setState(Init, "shutdown")
	m.deadline = time.Time{}
	m.master = netip.Addr{}
	return m.out()
}

// out returns the actions gathered by the current call, nil if none.
func (m *Machine) out() []Action {
	if len(m.acts) == 0 {
		return nil
	}
	return m.acts
}

// advert builds what we advertise from the configuration and demotion.
func (m *Machine) advert() Advert {
	c := m.cfg
	ad := Advert{Proto: c.Proto, ID: c.ID, Src: c.Addr, TTL: 255}
	if c.isVRRP() {
		ad.Priority = c.Priority
		if c.Priority != ownerPriority {
			ad.Priority = uint8(min(max(int(c.Priority)-m.weight, 1), 254))
		}
		ad.Interval = c.Interval
		return ad
	}
	ad.AdvBase, ad.AdvSkew = c.AdvBase, c.AdvSkew
	switch c.Demote {
	case DemoteSkew:
		ad.AdvSkew = uint8(max(int(c.AdvSkew), min(int(c.AdvSkew)+m.weight, maxSkew)))
	case DemoteByte:
		ad.Demote = uint8(min(m.weight, 255))
	}
	return ad
}

// setState records a transition as an ActState action.
func (m *Machine) setState(to State, reason string) {
	m.acts = append(m.acts, Action{Kind: ActState, From: m.state, To: to, Reason: reason})
	m.state = to
}

// send advertises now and restarts the advertisement timer.
func (m *Machine) send(now time.Time, reason string) {
	m.acts = append(m.acts, Action{Kind: ActSend, Advert: m.adv, Reason: reason})
	m.deadline = now.Add(m.advInterval())
}

// becomeMaster claims the virtual router, advertising before reporting the
// change: OpenBSD carp_master_down sends the advert before the gratuitous
// ARP, and the daemon claims before adding the VIP, so peers hear the new
// master before its address answers.
func (m *Machine) becomeMaster(now time.Time, reason string) {
	m.send(now, reason)
	m.setState(Master, reason)
	m.master = m.cfg.Addr
	m.lowerSeen = false
}

// preempted is a MASTER yielding to the more preferred master at src. It
// sends one last advert of its own first, which neither RFC 9568 §6.4.3
// nor the BSDs do: after a partition heals, the preferred master was
// MASTER all along and sends no gratuitous ARP, and when its advert
// reaches us before ours reaches it, nobody tells the hosts that learned
// our MAC during the partition to move back. Our advert makes it re-announce
// (ActAnnounce here; keepalived and ucarp re-announce on a lower master's
// advert too), which also ends the await-claim of our demotion. In a
// plain failback it costs one more announce round of the new master.
func (m *Machine) preempted(now time.Time, src netip.Addr, reason string) {
	m.acts = append(m.acts, Action{Kind: ActSend, Advert: m.adv, Reason: "last advert before yielding: " + reason})
	m.stepDown(now, src, reason)
}

// stepDown yields to the master at src and waits for it to go quiet.
func (m *Machine) stepDown(now time.Time, src netip.Addr, reason string) {
	m.setState(Backup, reason)
	m.master = src
	m.resetDown(now)
}

// resetDown (re)starts the master-down timer for a full interval.
func (m *Machine) resetDown(now time.Time) {
	m.deadline = now.Add(m.downInterval())
	m.cause = downCause{}
}

// announce sends an advert at once, which makes the less preferred master
// step down (RFC 9568 §6.4.3 for VRRP; a CARP peer applies §3.3 to it),
// then asks for the addresses to be re-announced, in the same order as a
// claim: advert first, then gratuitous ARP (OpenBSD carp_master_down).
func (m *Machine) announce(now time.Time, reason string) {
	m.send(now, reason)
	m.acts = append(m.acts, Action{Kind: ActAnnounce, Reason: reason})
}

// advInterval is how often a MASTER advertises.
func (m *Machine) advInterval() time.Duration {
	if m.cfg.isVRRP() {
		return m.cfg.Interval
	}
	return Interval(m.adv.AdvBase, m.adv.AdvSkew)
}

// downInterval is how long a BACKUP waits for an advert before claiming.
func (m *Machine) downInterval() time.Duration {
	if m.cfg.isVRRP() {
		// RFC 5798 §6.1: Master_Down_Interval = 3·Master_Adver_Interval + Skew_Time.
		return 3*m.mai + m.skew()
	}
	return m.carpDown()
}

// downReason explains why the master-down timer fired.
func (m *Machine) downReason() string {
	switch m.cause.kind {
	case causeZero:
		return "priority 0 received from " + m.cause.src.String()
	case causeLower:
		return fmt.Sprintf("preempting lower-priority master %v (priority %d < %d)",
			m.cause.src, m.cause.prio, m.adv.Priority)
	}
	return "master-down timer"
}

// demotionReason describes a change of the advertised values.
func demotionReason(old, cur Advert) string {
	word := "demoted"
	var field string
	var from, to uint8
	switch {
	case old.Priority != cur.Priority:
		field, from, to = "priority", old.Priority, cur.Priority
		if to > from {
			word = "demotion lifted"
		}
	case old.Demote != cur.Demote:
		field, from, to = "demote", old.Demote, cur.Demote
		if to < from {
			word = "demotion lifted"
		}
	default:
		field, from, to = "advskew", old.AdvSkew, cur.AdvSkew
		if to < from {
			word = "demotion lifted"
		}
	}
	return fmt.Sprintf("%s: %s %d → %d", word, field, from, to)
}

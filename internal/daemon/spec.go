package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/carpd/carpd/carp"
)

// Router is one virtual router as the daemon runs it: the configuration
// of internal/config, resolved (see FromConfig). Routers are values; the
// daemon never modifies one it was given.
type Router struct {
	Name  string // unique; keepalived's instance name in notify arguments
	Iface string
	// Machine holds the protocol, id and timers. A zero Addr is filled
	// from SrcIP or the interface's primary address at start.
	Machine carp.Config
	VIPs    []netip.Prefix
	// Password is the CARP passphrase or the VRRPv2 PASS password; nil
	// means none.
	Password []byte
	SrcIP    netip.Addr   // source address; zero = the interface's primary
	Peers    []netip.Addr // unicast peers; empty = multicast to Group
	Group    netip.Addr   // zero = 224.0.0.18 or ff02::12
	// AcceptFrom, when set, lists the sources adverts are accepted from;
	// with Peers, only the peers are accepted too.
	AcceptFrom []netip.Prefix

	// V3PseudoHeader makes VRRPv3 over IPv4 checksum with the IPv4
	// pseudo-header (keepalived's default, RFC 5798) instead of the RFC
	// 9568 form. Receiving accepts either.
	V3PseudoHeader bool
	// IgnoreIfState keeps the router running when its link goes down
	// (ucarp -S/--ignoreifstate).
	IgnoreIfState bool
	// VIPByScripts leaves the addresses to the up/down scripts (ucarp's
	// behaviour); carpd then neither adds nor removes them.
	VIPByScripts bool
	// Neutral skips the down script on the first INIT → BACKUP (ucarp
	// -n/--neutral).
	Neutral bool

	GARP            GARP
	Hooks           Hooks
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
}

// GARP says how the VIPs are announced after a claim: Repeat rounds
// Interval apart, the same burst again Delay later (keepalived
// garp_master_delay), and one round every Refresh while MASTER
// (garp_master_refresh). Zero Delay or Refresh turns that part off; Repeat
// 0 turns announcing off altogether, including the round sent when a less
// preferred master is heard.
type GARP struct {
	Repeat   int
	Interval time.Duration
	Delay    time.Duration
	Refresh  time.Duration
}

// Hooks are the external programs run on transitions, each an argv list
// (never a shell string). Up and Down get ucarp's arguments appended, once
// per VIP: <iface> <vip> [XParam]. Notify gets keepalived's: INSTANCE
// <name> MASTER|BACKUP|FAULT|STOP <priority>. Each run is killed with its
// process group after Timeout (0 = DefaultHookTimeout).
type Hooks struct {
	Up, Down, Notify []string
	XParam           string
	Timeout          time.Duration
	// User runs the hooks as another user and groups (script_user); nil
	// keeps carpd's.
	User *syscall.Credential
}

// DefaultHookTimeout bounds a hook when the configuration sets none.
const DefaultHookTimeout = 10 * time.Second

// TrackInterface demotes the router while Iface is down (keepalived
// track_interface). Weight 0 puts the router in FAULT instead.
type TrackInterface struct {
	Iface  string
	Weight int
}

// TrackScript runs Argv every Interval, killed after Timeout; Rise
// consecutive successes (exit 0) make it OK, Fall consecutive failures
// make it failed (keepalived vrrp_script). See tracker.weight for how
// Weight applies.
type TrackScript struct {
	Name     string
	Argv     []string
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
	Weight   int
	// User runs the script as another user and groups (script_user); nil
	// keeps carpd's.
	User *syscall.Credential
}

// family returns 4 or 6: the family of SrcIP if set, else of the first
// VIP.
func (r *Router) family() int {
	a := r.SrcIP
	if !a.IsValid() && len(r.VIPs) > 0 {
		a = r.VIPs[0].Addr()
	}
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// group returns the multicast group adverts go to.
func (r *Router) group() netip.Addr {
	if r.Group.IsValid() {
		return r.Group
	}
	return carp.Group(r.family() == 6)
}

// sockKey identifies the shared socket a router uses.
type sockKey struct {
	iface   string
	family  int
	src     netip.Addr
	group   netip.Addr
	unicast bool
}

func (r *Router) sockKey() sockKey {
	return sockKey{iface: r.Iface, family: r.family(), src: r.SrcIP, group: r.group(), unicast: len(r.Peers) > 0}
}

// addrs returns the VIP addresses, without prefix lengths.
func (r *Router) addrs() []netip.Addr {
	out := make([]netip.Addr, len(r.VIPs))
	for i, p := range r.VIPs {
		out[i] = p.Addr()
	}
	return out
}

// idKey is "vhid" for CARP and "vrid" for VRRP, the log key of the id.
func (r *Router) idKey() string {
	if r.Machine.Proto == carp.ProtoCARP {
		return "vhid"
	}
	return "vrid"
}

// logAttrs are the attributes every log line about r carries.
func (r *Router) logAttrs() []any {
	return []any{slog.String("router", r.Name), slog.String("iface", r.Iface),
		slog.Int(r.idKey(), int(r.Machine.ID))}
}

// validate checks what the daemon relies on beyond carp.Config.Validate,
// which runs once Addr is known.
func (r *Router) validate() error {
	switch {
	case r.Name == "":
		return errors.New("router has no name")
	case r.Iface == "":
		return fmt.Errorf("router %s has no interface", r.Name)
	case len(r.VIPs) == 0:
		return fmt.Errorf("router %s has no virtual address", r.Name)
	}
	fam := r.family()
	for _, p := range r.VIPs {
		if !p.IsValid() {
			return fmt.Errorf("router %s: invalid virtual address", r.Name)
		}
		if r.Machine.Proto != carp.ProtoCARP && (p.Addr().Unmap().Is4() != (fam == 4)) {
			// VRRP carries one family per advertisement (RFC 5798 §5.2.9).
			return fmt.Errorf("router %s: %v is not IPv%d like the router's other addresses", r.Name, p, fam)
		}
	}
	if r.Machine.Proto == carp.ProtoVRRP2 && fam != 4 {
		return fmt.Errorf("router %s: vrrp2 is IPv4 only (RFC 3768)", r.Name)
	}
	for _, p := range r.Peers {
		if p.Unmap().Is4() != (fam == 4) {
			return fmt.Errorf("router %s: peer %v is not IPv%d", r.Name, p, fam)
		}
	}
	return nil
}

// restartNeeded reports whether going from r to n needs the router to be
// shut down and started again rather than updated in place.
func (r *Router) restartNeeded(n *Router) bool {
	return r.Iface != n.Iface || r.Machine.Proto != n.Machine.Proto || r.Machine.ID != n.Machine.ID ||
		r.sockKey() != n.sockKey() || !slices.Equal(r.Peers, n.Peers)
}

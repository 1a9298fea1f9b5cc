package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// The daemon runs config.Router values as internal/config built them,
// with carp.DefaultConfig's Proto and ID in Machine. It never modifies a
// router it was given: resolve fills Machine.Addr (from SrcIP or the
// interface's primary address) on its own copy, and the slices are only
// read.

// family returns 4 or 6: the family of SrcIP if set, else of the first
// VIP.
func family(r *config.Router) int {
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
func group(r *config.Router) netip.Addr {
	if r.Group.IsValid() {
		return r.Group
	}
	return carp.Group(family(r) == 6)
}

// sockKey identifies the shared socket a router uses.
type sockKey struct {
	iface   string
	family  int
	src     netip.Addr
	group   netip.Addr
	unicast bool
}

func routerSockKey(r *config.Router) sockKey {
	return sockKey{iface: r.Iface, family: family(r), src: r.SrcIP, group: group(r), unicast: len(r.Peers) > 0}
}

// vipAddrs returns the VIP addresses, without prefix lengths.
func vipAddrs(r *config.Router) []netip.Addr {
	out := make([]netip.Addr, len(r.VIPs))
	for i, p := range r.VIPs {
		out[i] = p.Addr()
	}
	return out
}

// idKey is "vhid" for CARP and "vrid" for VRRP, the log key of the id.
func idKey(r *config.Router) string {
	if r.Machine.Proto == carp.ProtoCARP {
		return "vhid"
	}
	return "vrid"
}

// logAttrs are the attributes every log line about r carries.
func logAttrs(r *config.Router) []any {
	return []any{slog.String("router", r.Name), slog.String("iface", r.Iface),
		slog.Int(idKey(r), int(r.Machine.ID))}
}

// validate checks what the daemon relies on beyond carp.Config.Validate,
// which runs once Addr is known.
func validate(r *config.Router) error {
	switch {
	case r.Name == "":
		return errors.New("router has no name")
	case r.Iface == "":
		return fmt.Errorf("router %s has no interface", r.Name)
	case len(r.VIPs) == 0:
		return fmt.Errorf("router %s has no virtual address", r.Name)
	}
	fam := family(r)
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
func restartNeeded(r, n *config.Router) bool {
	return r.Iface != n.Iface || r.Machine.Proto != n.Machine.Proto || r.Machine.ID != n.Machine.ID ||
		routerSockKey(r) != routerSockKey(n) || !slices.Equal(r.Peers, n.Peers) ||
		r.VMAC != n.VMAC || r.VMACIface != n.VMACIface
}

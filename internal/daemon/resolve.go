package daemon

import (
	"errors"
	"fmt"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// resolve validates routers and fills in what the system knows: the
// machine's primary address (SrcIP or the interface's).
func (d *Daemon) resolve(routers []config.Router) ([]*config.Router, error) {
	var errs []error
	names := make(map[string]bool)
	type slot struct {
		iface  string
		family int
		v3     bool
		id     uint8
	}
	ids := make(map[slot]string)
	var out []*config.Router
	for i := range routers {
		r := routers[i]
		if err := validate(&r); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("router name %s used twice", r.Name))
			continue
		}
		names[r.Name] = true
		if err := d.resolveAddr(&r); err != nil {
			errs = append(errs, err)
			continue
		}
		k := slot{r.Iface, family(&r), r.Machine.Proto == carp.ProtoVRRP3, r.Machine.ID}
		if other, ok := ids[k]; ok {
			// CARP and VRRPv2 share version 2 on the wire; the demultiplexer
			// could not tell the two routers apart.
			errs = append(errs, fmt.Errorf("routers %s and %s use %s %d on %s", other, r.Name, idKey(&r),
				r.Machine.ID, r.Iface))
			continue
		}
		ids[k] = r.Name
		out = append(out, &r)
	}
	return out, errors.Join(errs...)
}

// resolveAddr checks r's interfaces and fills in its primary address.
func (d *Daemon) resolveAddr(r *config.Router) error {
	if _, err := d.net.LinkUp(r.Iface); err != nil {
		return fmt.Errorf("router %s: interface %s: %w", r.Name, r.Iface, err)
	}
	for _, ti := range r.TrackInterfaces {
		if _, err := d.net.LinkUp(ti.Iface); err != nil {
			return fmt.Errorf("router %s: tracked interface %s: %w", r.Name, ti.Iface, err)
		}
	}
	if !r.Machine.Addr.IsValid() {
		a := r.SrcIP
		if !a.IsValid() {
			var err error
			if a, err = d.net.Primary(r.Iface, family(r)); err != nil {
				return fmt.Errorf("router %s: source address on %s: %w", r.Name, r.Iface, err)
			}
		}
		r.Machine.Addr = a.WithZone("")
	}
	for _, p := range r.VIPs {
		if p.Addr() == r.Machine.Addr {
			// A leftover VIP can look like the primary address after a
			// crash; adverts from it would follow the VIP around.
			return fmt.Errorf("router %s: source address %v is one of its VIPs; set srcip", r.Name, p.Addr())
		}
	}
	if err := r.Machine.Validate(); err != nil {
		return fmt.Errorf("router %s: %w", r.Name, err)
	}
	if _, err := newEncoder(r, nil); err != nil {
		return fmt.Errorf("router %s: %w", r.Name, err)
	}
	return nil
}

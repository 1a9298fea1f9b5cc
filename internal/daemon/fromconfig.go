package daemon

import (
	"syscall"

	"github.com/carpd/carpd/internal/config"
)

// FromConfig converts a loaded configuration into the routers the daemon
// runs. The result shares no memory with f that the daemon writes.
func FromConfig(f *config.File) []Router {
	out := make([]Router, 0, len(f.Routers))
	for _, c := range f.Routers {
		user := credential(f.ScriptUser)
		r := Router{
			Name: c.Name, Iface: c.Iface, Machine: c.Machine, VIPs: c.VIPs, SrcIP: c.SrcIP,
			Peers: c.Peers, Group: c.Group, AcceptFrom: c.AcceptFrom, V3PseudoHeader: c.V3PseudoHeader,
			IgnoreIfState: c.IgnoreIfState, VIPByScripts: c.VIPByScripts, Neutral: c.Neutral,
			GARP: GARP{Repeat: c.GARP.Repeat, Interval: c.GARP.Interval, Delay: c.GARP.Delay,
				Refresh: c.GARP.Refresh},
			Hooks: Hooks{Up: c.Hooks.Up, Down: c.Hooks.Down, Notify: c.Hooks.Notify, XParam: c.Hooks.XParam,
				Timeout: c.Hooks.Timeout, User: user},
		}
		r.Machine.Proto, r.Machine.ID = c.Proto, c.ID
		if p := c.Password.Bytes(); len(p) > 0 {
			r.Password = append([]byte(nil), p...)
		}
		for _, ti := range c.TrackInterfaces {
			r.TrackInterfaces = append(r.TrackInterfaces, TrackInterface{Iface: ti.Iface, Weight: ti.Weight})
		}
		for _, ts := range c.TrackScripts {
			r.TrackScripts = append(r.TrackScripts, TrackScript{Name: ts.Name, Argv: ts.Argv,
				Interval: ts.Interval, Timeout: ts.Timeout, Rise: ts.Rise, Fall: ts.Fall, Weight: ts.Weight, User: user})
		}
		out = append(out, r)
	}
	return out
}

// credential is who scripts run as; a fresh copy for every router, since
// exec reads it while another router's hooks may run.
func credential(u *config.ScriptUser) *syscall.Credential {
	if u == nil {
		return nil
	}
	// Groups empty (not NoSetGroups) clears carpd's supplementary groups.
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: append([]uint32(nil), u.Groups...)}
}

package config

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/carpd/carpd/carp"
)

// Exposure lists what a host on the segment, or anyone who reaches the
// metrics address, could do to or learn from this configuration: routers
// without authentication and metrics served beyond loopback. They are not
// errors (a lab may want exactly that), so carpd check prints them as
// warnings, each with its file and line.
func (f *File) Exposure() []string {
	var ws []string
	for _, r := range f.Routers {
		at := f.where(r.Line)
		switch {
		case r.Proto == carp.ProtoVRRP3:
			// RFC 5798 §9 removed VRRPv2's authentication.
			ws = append(ws, fmt.Sprintf("router %s (%s): VRRPv3 has no authentication: restrict sources with accept_from or peers", r.Name, at))
		case len(r.Password) == 0 && r.Proto == carp.ProtoCARP:
			ws = append(ws, fmt.Sprintf("router %s (%s): CARP without a password: anyone on the segment can take the VIP", r.Name, at))
		case len(r.Password) == 0:
			ws = append(ws, fmt.Sprintf("router %s (%s): VRRPv2 without a password: anyone on the segment can take the VIP", r.Name, at))
		}
	}
	if f.MetricsListen != "" && !loopbackListen(f.MetricsListen) {
		ws = append(ws, fmt.Sprintf("%s: metrics_listen %s is not a loopback address: anyone who reaches it reads the metrics and can hold connections; bind 127.0.0.1 or [::1], or firewall the port",
			f.where(f.MetricsLine), f.MetricsListen))
	}
	return ws
}

// where is "FILE:LINE", or "command line" for a configuration without a
// file.
func (f *File) where(line int) string {
	switch {
	case f.Path == "":
		return "command line"
	case line == 0:
		return f.Path
	}
	return fmt.Sprintf("%s:%d", f.Path, line)
}

// loopbackListen reports whether a host:port listen address binds
// loopback only; ":port" binds every address.
func loopbackListen(s string) bool {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

//go:build linux

package config

import (
	"net/netip"

	"github.com/carpd/carpd/internal/link"
)

// systemAddrs lists the addresses of iface that carpd did not add, so
// `carpd check` on a running MASTER does not mistake its VIPs for the
// interface's own addresses.
func systemAddrs(iface string) ([]netip.Prefix, error) { return link.InterfaceAddrs(iface) }

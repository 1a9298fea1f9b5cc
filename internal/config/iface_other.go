//go:build !linux

package config

import "net/netip"

func systemAddrs(iface string) ([]netip.Addr, error) { return netAddrs(iface) }

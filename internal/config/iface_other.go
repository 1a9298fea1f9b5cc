//go:build !linux

package config

import (
	"net"
	"net/netip"
)

// systemAddrs lists an interface's addresses with the net package. Off
// Linux carpd cannot run, so telling its own VIPs apart does not matter.
func systemAddrs(iface string) ([]netip.Prefix, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	as, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ip = ip.Unmap()
				ones, _ := n.Mask.Size()
				if ip.Is4() && ones > 32 {
					ones -= 96
				}
				out = append(out, netip.PrefixFrom(ip, ones))
			}
		}
	}
	return out, nil
}

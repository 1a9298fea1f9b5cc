//go:build linux

package config

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// systemAddrs lists the addresses of iface that carpd did not add, so
// `carpd check` on a running MASTER does not mistake its VIPs for the
// interface's own addresses. carpd's VIPs are recognised the way the link
// package adds them: IPv4 with the label IFNAME:carpN / IFNAME:vrrpN, IPv6
// with IFA_F_NODAD and preferred lifetime 0 (so the kernel marks it
// IFA_F_DEPRECATED).
func systemAddrs(iface string) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	tab, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_UNSPEC)
	if err != nil {
		return netAddrs(iface)
	}
	msgs, err := syscall.ParseNetlinkMessage(tab)
	if err != nil {
		return netAddrs(iface)
	}
	var out []netip.Addr
	for i := range msgs {
		if a, ok := ownAddr(&msgs[i], ifi.Index); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// ownAddr decodes one RTM_NEWADDR message for interface index and reports
// whether it is an address of the interface rather than a carpd VIP.
func ownAddr(m *syscall.NetlinkMessage, index int) (netip.Addr, bool) {
	// struct ifaddrmsg: family, prefixlen, flags, scope (u8), index (u32).
	if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
		return netip.Addr{}, false
	}
	flags := uint32(m.Data[2])
	idx := int(nativeUint32(m.Data[4:8]))
	if idx != index {
		return netip.Addr{}, false
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return netip.Addr{}, false
	}
	var addr, local netip.Addr
	var label string
	for _, a := range attrs {
		switch a.Attr.Type {
		case syscall.IFA_ADDRESS:
			addr, _ = netip.AddrFromSlice(a.Value)
		case syscall.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(a.Value)
		case syscall.IFA_LABEL:
			label = strings.TrimRight(string(a.Value), "\x00")
		case ifaFlags:
			if len(a.Value) >= 4 {
				flags = nativeUint32(a.Value)
			}
		}
	}
	if local.IsValid() {
		addr = local // IFA_ADDRESS is the peer on point-to-point links
	}
	if !addr.IsValid() {
		return netip.Addr{}, false
	}
	if _, suffix, ok := strings.Cut(label, ":"); ok && (strings.HasPrefix(suffix, "carp") || strings.HasPrefix(suffix, "vrrp")) {
		return netip.Addr{}, false
	}
	if addr.Is6() && flags&ifaFNoDAD != 0 && flags&syscall.IFA_F_DEPRECATED != 0 {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// Not in package syscall.
const (
	ifaFlags  = 8    // IFA_FLAGS, linux/if_addr.h
	ifaFNoDAD = 0x02 // IFA_F_NODAD
)

func nativeUint32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

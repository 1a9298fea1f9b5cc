//go:build linux

package link

import (
	"fmt"
	"net/netip"
)

// Family is an IP address family.
type Family uint8

// The two families a Conn, an Addrs primary or a VIP can belong to.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// FamilyOf returns the family of a, treating IPv4-mapped IPv6 addresses as
// IPv4 (netip.ParseAddr("::ffff:198.18.0.1") is a VIP like 198.18.0.1).
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

func (f Family) valid() bool { return f == IPv4 || f == IPv6 }

//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// AddrProto is the address protocol (IFA_PROTO, Linux 5.18) carpd gives
// every VIP it adds, of both families: 112, the IP protocol number of CARP
// and VRRP. The kernel keeps and reports it but gives it no meaning
// (IFAPROT_UNSPEC, KERNEL_LO, KERNEL_RA and KERNEL_LL, 0 to 3, are its
// own). Unlike the IPv4 label (Label), it exists for IPv6 addresses too,
// so a VIP left behind by a killed carpd is found at the next start even
// when the configuration no longer lists it (Addrs.Marked). Older kernels
// ignore the attribute (it is unknown to their address policy), and
// leftovers are then found by configuration and label only.
const AddrProto = 112

// ifaProto is IFA_PROTO from include/uapi/linux/if_addr.h; golang.org/x/sys
// v0.50.0 and vishvananda/netlink v1.3.1 do not have it.
const ifaProto = 11

// markDumps bounds how often Marked dumps again when the kernel reports
// that a dump was interrupted by concurrent changes.
const markDumps = 5

// openRaw opens the netlink socket for the requests vishvananda/netlink
// v1.3.1 cannot build (its Addr has no protocol field), in the calling
// thread's namespace.
func openRaw() (*nl.SocketHandle, error) {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	return &nl.SocketHandle{Socket: s}, nil
}

// replace adds or refreshes na on the link with index, marked with
// AddrProto: netlink.Handle.AddrReplace's request (addr_linux.go
// addrHandle) with IFA_PROTO added.
func (a *Addrs) replace(index int, na *netlink.Addr) error {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  unix.RTM_NEWADDR,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_REPLACE | unix.NLM_F_ACK,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: a.raw},
	}
	for _, d := range addrRequest(index, na) {
		req.AddData(d)
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// addrRequest is the body of RTM_NEWADDR for na on the link with index:
// the ifaddrmsg, IFA_LOCAL and IFA_ADDRESS, IFA_FLAGS, for IPv4 the
// broadcast address of a prefix of /30 or shorter (as `ip addr add … brd +`
// and the library set it) and the label, IFA_CACHEINFO when a lifetime is
// set, and IFA_PROTO.
func addrRequest(index int, na *netlink.Addr) []nl.NetlinkRequestData {
	ip := na.IP.To4()
	family := unix.AF_INET
	if ip == nil {
		ip, family = na.IP.To16(), unix.AF_INET6
	}
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(index)
	ones, _ := na.Mask.Size()
	msg.Prefixlen = uint8(ones)
	out := []nl.NetlinkRequestData{msg,
		nl.NewRtAttr(unix.IFA_LOCAL, ip),
		nl.NewRtAttr(unix.IFA_ADDRESS, ip),
	}
	if na.Flags != 0 {
		b := make([]byte, 4)
		nl.NativeEndian().PutUint32(b, uint32(na.Flags))
		out = append(out, nl.NewRtAttr(unix.IFA_FLAGS, b))
	}
	if family == unix.AF_INET {
		if ones < 31 {
			brd := make(net.IP, 4)
			for i := range brd {
				brd[i] = ip[i] | ^na.Mask[len(na.Mask)-4+i]
			}
			out = append(out, nl.NewRtAttr(unix.IFA_BROADCAST, brd))
		}
		if na.Label != "" {
			out = append(out, nl.NewRtAttr(unix.IFA_LABEL, nl.ZeroTerminated(na.Label)))
		}
	}
	if na.ValidLft > 0 || na.PreferedLft > 0 {
		ci := nl.IfaCacheInfo{IfaCacheinfo: unix.IfaCacheinfo{Valid: uint32(na.ValidLft), Prefered: uint32(na.PreferedLft)}}
		out = append(out, nl.NewRtAttr(unix.IFA_CACHEINFO, ci.Serialize()))
	}
	return append(out, nl.NewRtAttr(ifaProto, []byte{AddrProto}))
}

// Marked returns the addresses of the interface, of both families, that
// carry AddrProto: the VIPs some carpd added.
func (a *Addrs) Marked() ([]netip.Prefix, error) {
	l, err := a.link()
	if err != nil {
		return nil, err
	}
	var msgs [][]byte
	for range markDumps {
		req := &nl.NetlinkRequest{
			NlMsghdr: unix.NlMsghdr{
				Len:   unix.SizeofNlMsghdr,
				Type:  unix.RTM_GETADDR,
				Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
			},
			Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: a.raw},
		}
		req.AddData(nl.NewIfAddrmsg(unix.AF_UNSPEC))
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", a.ifname, err)
	}
	return marked(msgs, l.Attrs().Index)
}

// marked picks from RTM_NEWADDR messages those of the link with index
// that carry AddrProto.
func marked(msgs [][]byte, index int) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, m := range msgs {
		if len(m) < unix.SizeofIfAddrmsg {
			return nil, errors.New("short RTM_NEWADDR message")
		}
		msg := nl.DeserializeIfAddrmsg(m)
		if int(msg.Index) != index {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfAddrmsg:])
		if err != nil {
			return nil, err
		}
		var local, addr netip.Addr
		proto := -1
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.IFA_LOCAL:
				local, _ = netip.AddrFromSlice(at.Value)
			case unix.IFA_ADDRESS:
				addr, _ = netip.AddrFromSlice(at.Value)
			case ifaProto:
				if len(at.Value) == 1 {
					proto = int(at.Value[0])
				}
			}
		}
		// IFA_LOCAL is the address itself; IPv6 sends only IFA_ADDRESS
		// unless there is a peer.
		if local.IsValid() {
			addr = local
		}
		if proto == AddrProto && addr.IsValid() && int(msg.Prefixlen) <= addr.BitLen() {
			out = append(out, netip.PrefixFrom(addr, int(msg.Prefixlen)))
		}
	}
	return out, nil
}

//go:build linux

package nat

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The socket destroy request of vishvananda/netlink v1.3.1
// (Handle.SocketDestroy) takes IPv4 sockets only, so carpd builds
// SOCK_DESTROY itself, for both families, on the library's netlink socket.

// diagSocket is a sock_diag netlink socket bound to one namespace.
type diagSocket struct{ h *nl.SocketHandle }

// openDiag opens a sock_diag socket in the namespace fd refers to, or in
// the caller's namespace when fd is 0.
func openDiag(fd int) (*diagSocket, error) {
	ns := netns.None()
	if fd != 0 {
		ns = netns.NsHandle(fd)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag netlink socket: %w", err)
	}
	return &diagSocket{h: &nl.SocketHandle{Socket: s}}, nil
}

func (d *diagSocket) Close() { d.h.Close() }

// destroy aborts the TCP socket from local to remote (CONFIG_INET_DIAG_DESTROY);
// the kernel sends the peer a reset. Both ends must be of one family.
func (d *diagSocket) destroy(local, remote netip.AddrPort) error {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  nl.SOCK_DESTROY,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: d.h},
	}
	req.AddData(diagReq{local: local, remote: remote})
	_, err := req.Execute(unix.NETLINK_INET_DIAG, 0)
	return err
}

// diagReq is struct inet_diag_req_v2 (include/uapi/linux/inet_diag.h) for
// one TCP socket: family, protocol, ext, pad, states, then the
// inet_diag_sockid with ports and addresses in network order, addresses in
// 16-byte fields (an IPv4 one in the first 4), interface and the cookie,
// all ones for none (INET_DIAG_NOCOOKIE).
type diagReq struct{ local, remote netip.AddrPort }

const sizeofDiagReq = 8 + 48

func (r diagReq) Len() int { return sizeofDiagReq }

func (r diagReq) Serialize() []byte {
	b := make([]byte, sizeofDiagReq)
	b[0] = unix.AF_INET
	if r.local.Addr().Is6() {
		b[0] = unix.AF_INET6
	}
	b[1] = unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(b[8:], r.local.Port())
	binary.BigEndian.PutUint16(b[10:], r.remote.Port())
	copy(b[12:28], r.local.Addr().AsSlice())
	copy(b[28:44], r.remote.Addr().AsSlice())
	// Interface (b[44:48]) 0: any. The cookie is two host-order u32.
	nl.NativeEndian().PutUint32(b[48:], nl.TCPDIAG_NOCOOKIE)
	nl.NativeEndian().PutUint32(b[52:], nl.TCPDIAG_NOCOOKIE)
	return b
}

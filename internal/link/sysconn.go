//go:build linux

package link

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// sysConn is the per-packet I/O of a raw protocol 112 socket: recvmsg and
// sendmsg with buffers, addresses and control messages kept in the struct,
// so a packet costs no allocation, issued as raw system calls.
//
// Why not the *ipv4.PacketConn / *ipv6.PacketConn of golang.org/x/net:
// those allocate a dozen objects per packet, and they enter the kernel
// through syscall.Syscall, whose entersyscall wakes the runtime's sysmon
// thread whenever the process was idle (runtime/proc.go entersyscall,
// entersyscallWakeSysmon); sysmon then polls at 20 µs until the process
// is idle again. At a 10 ms advertisement interval that was about a third
// of carpd's CPU time (docs/daemon.md, "Cost of an advertisement"). The
// socket is non-blocking (the runtime's poller owns it), so neither call
// can block, which is what RawSyscall requires; a call that would block
// returns EAGAIN and the poller waits for the socket instead.
//
// The options (groups, TTL, control message flags) are still set through
// x/net at Listen; only the packets go through here. A sysConn satisfies
// conn4 or conn6; ReadFrom's control message and source address are
// reused by the next call.
type sysConn struct {
	pc *net.IPConn
	rc syscall.RawConn
	v6 bool

	// Reader state: ReadPacket has one caller at a time.
	rmsg   unix.Msghdr
	riov   [2]unix.Iovec
	rhdr   [ipv4.HeaderLen]byte // IPv4: the kernel hands over the IP header
	roob   [128]byte
	rname  [unix.SizeofSockaddrInet6]byte
	rfn    func(fd uintptr) bool
	rn     int
	rerr   error
	cm4    ipv4.ControlMessage
	cm6    ipv6.ControlMessage
	dst    [net.IPv6len]byte
	from   net.IPAddr
	fromIP [net.IPv6len]byte

	// Writer state, under wmu.
	wmu sync.Mutex
	// wfd is a duplicate of the socket's descriptor that only write
	// uses and only Close closes, both under wmu, so it cannot be closed
	// and reused by another file under a send; -1 once closed, or when
	// dup failed (every send then goes through the poller).
	wfd   int
	wmsg  unix.Msghdr
	wiov  unix.Iovec
	woob  [128]byte
	wname [unix.SizeofSockaddrInet6]byte
	wfn   func(fd uintptr) bool
	wn    int
	werr  error
}

// newSysConn wraps pc, an "ip4:112" or "ip6:112" socket.
func newSysConn(pc *net.IPConn, v6 bool) (*sysConn, error) {
	rc, err := pc.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &sysConn{pc: pc, rc: rc, v6: v6, wfd: -1}
	s.rfn, s.wfn = s.recv, s.send
	if cerr := rc.Control(func(fd uintptr) {
		if d, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); err == nil {
			s.wfd = d
		}
	}); cerr != nil {
		return nil, cerr
	}
	s.rmsg.Name = &s.rname[0]
	s.rmsg.Control = &s.roob[0]
	s.wmsg.Name = &s.wname[0]
	s.wmsg.Iov, s.wmsg.Iovlen = &s.wiov, 1
	return s, nil
}

// recv is one recvmsg on fd, for RawConn.Read: false asks the poller to
// wait for the socket.
func (s *sysConn) recv(fd uintptr) bool {
	s.rmsg.Namelen = uint32(len(s.rname))
	s.rmsg.SetControllen(len(s.roob))
	s.rmsg.Flags = 0
	for {
		n, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&s.rmsg)), 0)
		switch errno {
		case 0:
			s.rn, s.rerr = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.rn, s.rerr = 0, errno
		return true
	}
}

// send is one sendmsg on fd, for RawConn.Write.
func (s *sysConn) send(fd uintptr) bool { return !s.send2(fd, 0) }

// send2 is one sendmsg on fd with flags: it returns true when the
// socket's buffer is full (EAGAIN), else false with wn and werr set.
func (s *sysConn) send2(fd uintptr, flags int) (again bool) {
	for {
		n, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.wmsg)), uintptr(flags))
		switch errno {
		case 0:
			s.wn, s.werr = int(n), nil
			return false
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return true
		}
		s.wn, s.werr = 0, errno
		return false
	}
}

// read receives one packet into b (after the IPv4 header, which goes to
// rhdr) and returns the payload length.
func (s *sysConn) read(b []byte) (int, error) {
	iov := s.riov[:0]
	if !s.v6 {
		s.riov[0].Base = &s.rhdr[0]
		s.riov[0].SetLen(len(s.rhdr))
		iov = s.riov[:1]
	}
	if len(b) > 0 {
		iov = iov[:len(iov)+1]
		iov[len(iov)-1].Base = &b[0]
		iov[len(iov)-1].SetLen(len(b))
	}
	if len(iov) == 0 {
		return 0, errors.New("reading: empty buffer")
	}
	s.rmsg.Iov = &iov[0]
	s.rmsg.SetIovlen(len(iov))
	err := s.rc.Read(s.rfn)
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: s.network(), Err: err}
	}
	n := s.rn
	if s.v6 {
		return n, nil
	}
	// As x/net's ipv4 payloadHandler: strip the header, options
	// included.
	hdrlen := int(s.rhdr[0]&0x0f) << 2
	if n < ipv4.HeaderLen || hdrlen < ipv4.HeaderLen || n < hdrlen {
		return 0, &net.OpError{Op: "read", Net: s.network(), Err: errors.New("header too short")}
	}
	if d := hdrlen - ipv4.HeaderLen; d > 0 {
		copy(b, b[d:n-ipv4.HeaderLen])
	}
	return n - hdrlen, nil
}

func (s *sysConn) network() string {
	if s.v6 {
		return "ip6:112"
	}
	return "ip4:112"
}

// cmsgs calls f with the level, type and data of each control message
// received.
func (s *sysConn) cmsgs(f func(level, typ int32, data []byte)) {
	oob := s.roob[:s.rmsg.Controllen]
	hl := unix.CmsgLen(0)
	for len(oob) >= hl {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hl || l > len(oob) {
			return
		}
		f(h.Level, h.Type, oob[hl:l])
		next := unix.CmsgSpace(l - hl)
		if next >= len(oob) {
			return
		}
		oob = oob[next:]
	}
}

// source returns the sender's address from the received sockaddr.
func (s *sysConn) source() net.Addr {
	if s.v6 {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.rname[0]))
		copy(s.fromIP[:], sa.Addr[:])
		s.from.IP = s.fromIP[:net.IPv6len]
	} else {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.rname[0]))
		copy(s.fromIP[:], sa.Addr[:])
		s.from.IP = s.fromIP[:net.IPv4len]
	}
	return &s.from
}

// readFrom4 is conn4's ReadFrom: TTL and destination from IP_TTL and
// IP_PKTINFO, as x/net parses them.
func (s *sysConn) readFrom4(b []byte) (int, *ipv4.ControlMessage, net.Addr, error) {
	n, err := s.read(b)
	if err != nil {
		return 0, nil, nil, err
	}
	cm := &s.cm4
	*cm = ipv4.ControlMessage{}
	s.cmsgs(func(level, typ int32, data []byte) {
		switch {
		case level != unix.IPPROTO_IP:
		case typ == unix.IP_TTL && len(data) >= 4:
			cm.TTL = int(binary.NativeEndian.Uint32(data))
		case typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			cm.IfIndex = int(pi.Ifindex)
			copy(s.dst[:], pi.Addr[:])
			cm.Dst = s.dst[:net.IPv4len]
		}
	})
	return n, cm, s.source(), nil
}

// readFrom6 is conn6's ReadFrom: hop limit and destination from
// IPV6_HOPLIMIT and IPV6_PKTINFO.
func (s *sysConn) readFrom6(b []byte) (int, *ipv6.ControlMessage, net.Addr, error) {
	n, err := s.read(b)
	if err != nil {
		return 0, nil, nil, err
	}
	cm := &s.cm6
	*cm = ipv6.ControlMessage{}
	s.cmsgs(func(level, typ int32, data []byte) {
		switch {
		case level != unix.IPPROTO_IPV6:
		case typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			cm.HopLimit = int(binary.NativeEndian.Uint32(data))
		case typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			cm.IfIndex = int(pi.Ifindex)
			copy(s.dst[:], pi.Addr[:])
			cm.Dst = s.dst[:net.IPv6len]
		}
	})
	return n, cm, s.source(), nil
}

// sendDirect is one sendmsg of wmsg on wfd, under wmu, without the
// poller; it returns false when the socket's buffer is full (or there is
// no wfd) and the caller must wait for the poller. Why not always
// RawConn.Write: its descriptor lock and readiness reset (internal/poll
// FD.RawWrite, prepareWrite) were a measurable part of a MASTER's wakeup
// at a 100 ms interval (docs/daemon.md, "Cost of an advertisement"),
// and a raw socket's buffer is never full at one advert per interval.
func (s *sysConn) sendDirect() bool {
	if s.wfd < 0 {
		return false
	}
	// MSG_DONTWAIT: the descriptor is non-blocking already (shared file
	// status flags), but a send here must never block whatever changes.
	return !s.send2(uintptr(s.wfd), unix.MSG_DONTWAIT)
}

// write sends b with the control messages already in woob[:oobn].
func (s *sysConn) write(b []byte, oobn int) (int, error) {
	s.wiov.Base = nil
	if len(b) > 0 {
		s.wiov.Base = &b[0]
	}
	s.wiov.SetLen(len(b))
	s.wmsg.Control = nil
	if oobn > 0 {
		s.wmsg.Control = &s.woob[0]
	}
	s.wmsg.SetControllen(oobn)
	var err error
	if !s.sendDirect() {
		err = s.rc.Write(s.wfn)
	}
	s.wiov.Base = nil // b belongs to the caller
	if err == nil {
		err = s.werr
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: s.network(), Err: err}
	}
	return s.wn, nil
}

// putCmsg writes one control message header at woob[off:] and returns
// its data and the offset of the next one.
func (s *sysConn) putCmsg(off int, level, typ int32, datalen int) ([]byte, int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&s.woob[off]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(datalen))
	data := s.woob[off+unix.CmsgLen(0) : off+unix.CmsgLen(datalen)]
	clear(data)
	return data, off + unix.CmsgSpace(datalen)
}

// writeTo4 is conn4's WriteTo: IP_PKTINFO with the source and interface,
// as x/net marshals cm on Linux.
func (s *sysConn) writeTo4(b []byte, cm *ipv4.ControlMessage, dst net.Addr) (int, error) {
	ia, ok := dst.(*net.IPAddr)
	if !ok || ia.IP.To4() == nil {
		return 0, &net.OpError{Op: "write", Net: s.network(), Addr: dst, Err: errors.New("not an IPv4 address")}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.wname[0]))
	*sa = unix.RawSockaddrInet4{Family: unix.AF_INET}
	copy(sa.Addr[:], ia.IP.To4())
	s.wmsg.Namelen = unix.SizeofSockaddrInet4
	oobn := 0
	if cm != nil && (cm.Src.To4() != nil || cm.IfIndex > 0) {
		var data []byte
		data, oobn = s.putCmsg(0, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
		pi.Ifindex = int32(cm.IfIndex)
		if ip := cm.Src.To4(); ip != nil {
			copy(pi.Spec_dst[:], ip)
		}
	}
	return s.write(b, oobn)
}

// writeTo6 is conn6's WriteTo: IPV6_HOPLIMIT and IPV6_PKTINFO, as x/net
// marshals cm; dst's zone must be an interface index.
func (s *sysConn) writeTo6(b []byte, cm *ipv6.ControlMessage, dst net.Addr) (int, error) {
	ia, ok := dst.(*net.IPAddr)
	if !ok || ia.IP.To16() == nil || ia.IP.To4() != nil {
		return 0, &net.OpError{Op: "write", Net: s.network(), Addr: dst, Err: errors.New("not an IPv6 address")}
	}
	var scope uint32
	if ia.Zone != "" {
		z, err := strconv.ParseUint(ia.Zone, 10, 32)
		if err != nil {
			return 0, &net.OpError{Op: "write", Net: s.network(), Addr: dst, Err: errors.New("zone is not an interface index")}
		}
		scope = uint32(z)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.wname[0]))
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Scope_id: scope}
	copy(sa.Addr[:], ia.IP.To16())
	s.wmsg.Namelen = unix.SizeofSockaddrInet6
	oobn := 0
	if cm != nil {
		if cm.TrafficClass > 0 {
			var data []byte
			data, oobn = s.putCmsg(oobn, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 4)
			binary.NativeEndian.PutUint32(data, uint32(cm.TrafficClass))
		}
		if cm.HopLimit > 0 {
			var data []byte
			data, oobn = s.putCmsg(oobn, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, 4)
			binary.NativeEndian.PutUint32(data, uint32(cm.HopLimit))
		}
		if cm.Src.To16() != nil && cm.Src.To4() == nil || cm.IfIndex > 0 {
			var data []byte
			data, oobn = s.putCmsg(oobn, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			if ip := cm.Src.To16(); ip != nil && ip.To4() == nil {
				copy(pi.Addr[:], ip)
			}
			if cm.IfIndex > 0 {
				pi.Ifindex = uint32(cm.IfIndex)
			}
		}
	}
	return s.write(b, oobn)
}

// Close closes the socket, unblocking a pending read or write, then the
// writer's descriptor: after the socket, so that a write waiting for the
// poller under wmu ends first.
func (s *sysConn) Close() error {
	err := s.pc.Close()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wfd >= 0 {
		unix.Close(s.wfd)
		s.wfd = -1
	}
	return err
}

// sys4 and sys6 are a sysConn as conn4 and conn6.
type (
	sys4 struct{ *sysConn }
	sys6 struct{ *sysConn }
)

func (s sys4) ReadFrom(b []byte) (int, *ipv4.ControlMessage, net.Addr, error) { return s.readFrom4(b) }

func (s sys4) WriteTo(b []byte, cm *ipv4.ControlMessage, dst net.Addr) (int, error) {
	return s.writeTo4(b, cm, dst)
}

func (s sys6) ReadFrom(b []byte) (int, *ipv6.ControlMessage, net.Addr, error) { return s.readFrom6(b) }

func (s sys6) WriteTo(b []byte, cm *ipv6.ControlMessage, dst net.Addr) (int, error) {
	return s.writeTo6(b, cm, dst)
}

// Command floor is the least a Go program waiting on the runtime's
// poller can do per VRRP advertisement: a periodic timerfd read from one
// RawConn.Read callback and one raw sendto of a fixed VRRPv3 advert, as
// carpd's MASTER does (docs/daemon.md, "Cost of an advertisement"). The
// cost benchmark runs it as a pair's master, next to carpd and
// keepalived, to tell the Go runtime's share of a wakeup from carpd's
// own (scripts/bench/cost_test.go, CARPD_COST_FLOOR).
//
//	floor IFACE SRC VRID PRIORITY INTERVAL VIP
//
// It holds no state and never stops advertising: a measurement only.
package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
	"unsafe"

	"github.com/carpd/carpd/carp"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 6 {
		return fmt.Errorf("usage: floor IFACE SRC VRID PRIORITY INTERVAL VIP")
	}
	ifc, err := net.InterfaceByName(args[0])
	if err != nil {
		return err
	}
	src, err := netip.ParseAddr(args[1])
	if err != nil {
		return err
	}
	vrid, err := strconv.ParseUint(args[2], 10, 8)
	if err != nil {
		return fmt.Errorf("vrid: %w", err)
	}
	prio, err := strconv.ParseUint(args[3], 10, 8)
	if err != nil {
		return fmt.Errorf("priority: %w", err)
	}
	iv, err := time.ParseDuration(args[4])
	if err != nil || iv < 10*time.Millisecond || iv > 40*time.Second {
		return fmt.Errorf("interval %q: want 10ms..40s", args[4])
	}
	vip, err := netip.ParseAddr(args[5])
	if err != nil {
		return err
	}
	dst := carp.Group(false)
	v := carp.VRRP{Version: 3, Type: 1, VRID: uint8(vrid), Priority: uint8(prio), CountAddrs: 1,
		AdvInt: uint16(iv / (10 * time.Millisecond)), Addrs: []netip.Addr{vip}, Src: src, Dst: dst, PseudoHeader: true}
	pkt, err := v.AppendBinary(nil)
	if err != nil {
		return err
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 112)
	if err != nil {
		return err
	}
	for _, err := range []error{
		unix.SetsockoptIPMreqn(s, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifc.Index)}),
		unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255),
		unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
		unix.BindToDevice(s, ifc.Name),
	} {
		if err != nil {
			return err
		}
	}
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return err
	}
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(iv)), Value: unix.NsecToTimespec(int64(iv))}
	if err := unix.TimerfdSettime(tfd, 0, &spec, nil); err != nil {
		return err
	}
	rc, err := os.NewFile(uintptr(tfd), "timerfd").SyscallConn()
	if err != nil {
		return err
	}
	var buf [8]byte
	var sendErr unix.Errno
	// Raw system calls, as carpd's: syscall.Syscall would wake sysmon.
	err = rc.Read(func(fd uintptr) bool {
		if _, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), 8); e != 0 {
			return false // EAGAIN: wait for the poller
		}
		_, _, sendErr = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)),
			0, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		return sendErr != 0
	})
	if sendErr != 0 {
		return fmt.Errorf("sendto: %w", sendErr)
	}
	return err
}

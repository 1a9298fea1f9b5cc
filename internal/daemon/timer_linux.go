//go:build linux

package daemon

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdTimer is a routerTimer on a timerfd that the runtime's poller waits
// for. Why not time.Timer: while the process is idle, the runtime's
// sysmon thread sleeps until the next runtime timer (runtime/proc.go
// sysmon, timeSleepUntil), so a MASTER's advertisement timer woke it once
// per advert on top of the thread that runs the timer; a timerfd is a
// file descriptor like the sockets, and sysmon sleeps on (docs/daemon.md,
// "Cost of an advertisement"). The read and timerfd_settime are raw
// system calls for the same reason as link's sockets: neither blocks, and
// syscall.Syscall would wake sysmon.
type fdTimer struct {
	f    *os.File
	fd   uintptr
	rc   syscall.RawConn
	c    chan time.Time
	done chan struct{}

	// Reader goroutine state.
	rfn  func(fd uintptr) bool
	buf  [8]byte
	rerr syscall.Errno

	// Router goroutine state.
	spec unix.ItimerSpec
}

func newFDTimer() (*fdTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &fdTimer{f: f, fd: uintptr(fd), rc: rc, c: make(chan time.Time, 1), done: make(chan struct{})}
	t.rfn = t.read
	go t.run()
	return t, nil
}

// read is one read of the expiry count, for RawConn.Read.
func (t *fdTimer) read(fd uintptr) bool {
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		t.rerr = errno
		return true
	}
}

// run delivers the expiries until Close.
func (t *fdTimer) run() {
	defer close(t.done)
	for {
		if err := t.rc.Read(t.rfn); err != nil {
			return // closed
		}
		if t.rerr != 0 {
			// A timerfd read fails only on a bad buffer; do not spin.
			time.Sleep(time.Millisecond)
			continue
		}
		select {
		case t.c <- time.Now():
		default: // a tick is pending already
		}
	}
}

func (t *fdTimer) C() <-chan time.Time { return t.c }

// Reset drops a pending tick of the previous deadline and arms the timer
// d from now, replacing that deadline.
func (t *fdTimer) Reset(d time.Duration) {
	// Before arming: a due deadline's own tick may come at once.
	select {
	case <-t.c:
	default:
	}
	// A zero it_value disarms: a due deadline fires at once instead.
	t.set(max(d, time.Nanosecond))
}

// Stop disarms the timer and drops a pending tick.
func (t *fdTimer) Stop() {
	t.set(0)
	select {
	case <-t.c:
	default:
	}
}

func (t *fdTimer) set(d time.Duration) {
	t.spec.Value = unix.NsecToTimespec(int64(d))
	if _, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0); errno != 0 {
		// Only bad arguments fail; fall back to firing soon, so the
		// loop retries rather than stalling.
		select {
		case t.c <- time.Now():
		default:
		}
	}
}

// Close releases the timerfd and ends the reader.
func (t *fdTimer) Close() {
	t.f.Close() // unblocks the reader, which then ends
	<-t.done
}

// NewTimer gives the routers of the Linux daemon a timerfd.
func (linuxNet) NewTimer() (routerTimer, error) { return newFDTimer() }

// The daemon on Linux uses fdTimer.
var _ timerMaker = linuxNet{}

//go:build linux

package daemon

import (
	"encoding/binary"
	"os"
	"sync"
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
//
// Two system calls per advert are saved besides. The reader stays in one
// RawConn.Read for its life and calls fire from inside it, so it reads
// the timerfd only once the poller said it is readable: a Read per expiry
// would start with a read that fails with EAGAIN, as the poller's
// readiness is reset when a Read begins (internal/poll FD.RawRead,
// prepareRead). And a MASTER's timer is periodic (it_interval), so it
// needs no timerfd_settime per advert.
type fdTimer struct {
	f    *os.File
	fd   uintptr
	rc   syscall.RawConn
	fire func()
	done chan struct{}

	// Reader goroutine state.
	rfn  func(fd uintptr) bool
	buf  [8]byte
	rerr syscall.Errno

	// mu orders Set's timerfd_settime and the reader's read, so that next
	// counts exactly the expiries of the current arming (a
	// timerfd_settime resets the expiry count: timerfd_create(2)).
	mu   sync.Mutex
	spec unix.ItimerSpec
	// next is the deadline of the next expiry of a periodic arming, and
	// every its period; both zero otherwise.
	next  time.Time
	every time.Duration
	// For the tests: timerfd_settime calls, reads that found no expiry
	// (EAGAIN), expiries read and reads that found some.
	sets, empty, expiries, fired int
}

func newFDTimer(fire func()) (*fdTimer, error) {
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
	t := &fdTimer{f: f, fd: uintptr(fd), rc: rc, fire: fire, done: make(chan struct{})}
	t.rfn = t.read
	go t.run()
	return t, nil
}

// read is called by RawConn.Read once when the reader starts and then
// each time the poller finds the timerfd readable: it reads the expiry
// count and calls fire. It returns true only on a read error, ending the
// Read.
func (t *fdTimer) read(fd uintptr) bool {
	for {
		t.mu.Lock()
		_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
		switch errno {
		case 0:
			n := binary.NativeEndian.Uint64(t.buf[:])
			t.expiries += int(n)
			t.fired++
			if t.every > 0 {
				t.next = t.next.Add(time.Duration(n) * t.every)
			}
		case unix.EAGAIN:
			t.empty++
		}
		t.mu.Unlock()
		switch errno {
		case 0:
			t.fire()
			return false
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
		// A timerfd read fails only on a bad buffer; do not spin.
		time.Sleep(time.Millisecond)
	}
}

// Set arms the timer for dl, periodic with every if every > 0. A periodic
// arming whose next expiry is dl already is left alone: the kernel
// re-arms it at each expiry, one period after the previous (hrtimer
// forwarding), which is when the machine's next advert is due.
func (t *fdTimer) Set(dl time.Time, every time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if every > 0 && every == t.every && dl.Equal(t.next) {
		return
	}
	// Relative to now; the kernel's expiry falls after dl by the time
	// between time.Until and the call, never before it, so the machine
	// never finds its deadline not yet due. A zero it_value disarms: a
	// due deadline fires at once instead.
	t.set(max(time.Until(dl), time.Nanosecond), every)
	if every > 0 {
		t.next, t.every = dl, every
	}
}

// Stop disarms the timer.
func (t *fdTimer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.spec.Value == (unix.Timespec{}) && t.every == 0 {
		return // disarmed already
	}
	t.set(0, 0)
}

// set calls timerfd_settime, under mu.
func (t *fdTimer) set(d, every time.Duration) {
	t.next, t.every = time.Time{}, 0
	t.spec.Value = unix.NsecToTimespec(int64(d))
	t.spec.Interval = unix.NsecToTimespec(int64(every))
	t.sets++
	if _, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0); errno != 0 {
		// Only bad arguments fail; fall back to firing soon, so the
		// router retries rather than stalling. fire does not wait for
		// the router, which holds its lock while it calls Set.
		t.spec = unix.ItimerSpec{}
		go t.fire()
	}
}

// Close releases the timerfd and ends the reader.
func (t *fdTimer) Close() {
	t.f.Close() // unblocks the reader, which then ends
	<-t.done
}

// NewTimer gives the routers of the Linux daemon a timerfd.
func (linuxNet) NewTimer(fire func()) (routerTimer, error) { return newFDTimer(fire) }

// The daemon on Linux uses fdTimer.
var _ timerMaker = linuxNet{}

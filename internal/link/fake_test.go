//go:build linux

package link

import (
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
)

// The fakes stand where the kernel's sockets do, so the logic around them
// is tested without root; the lab tests prove the real sockets.

// testIfi is the interface the fakes pretend to be on.
var testIfi = &net.Interface{Index: 2, Name: "eth0", HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}

// fakeIP is an in-memory conn4 (CM is ipv4.ControlMessage) or conn6 (CM is
// ipv6.ControlMessage). ReadFrom returns the packets in in, one per call,
// then net.ErrClosed as a closed socket does; WriteTo records.
type fakeIP[CM any] struct {
	in       []fakeRead[CM]
	out      []fakeWrite[CM]
	writeErr error
	closed   bool
}

// fakeRead is one packet as the kernel hands it over: payload, control
// message and source.
type fakeRead[CM any] struct {
	payload []byte
	cm      *CM
	src     net.Addr
}

// fakeWrite is one packet written.
type fakeWrite[CM any] struct {
	Payload []byte
	CM      CM
	Dst     net.Addr
}

func (f *fakeIP[CM]) ReadFrom(b []byte) (int, *CM, net.Addr, error) {
	if len(f.in) == 0 {
		return 0, nil, nil, net.ErrClosed
	}
	r := f.in[0]
	f.in = f.in[1:]
	return copy(b, r.payload), r.cm, r.src, nil
}

func (f *fakeIP[CM]) WriteTo(b []byte, cm *CM, dst net.Addr) (int, error) {
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	// Conn reuses its destination; keep a copy.
	if ia, ok := dst.(*net.IPAddr); ok {
		dst = &net.IPAddr{IP: slices.Clone(ia.IP), Zone: ia.Zone}
	}
	f.out = append(f.out, fakeWrite[CM]{Payload: append([]byte(nil), b...), CM: *cm, Dst: dst})
	return len(b), nil
}

func (f *fakeIP[CM]) Close() error {
	f.closed = true
	return nil
}

// fakeFrames is an in-memory frameWriter and frameConn. ReadFrom returns
// the frames sent on in, or os.ErrDeadlineExceeded when the read deadline
// passes first (on the fake clock inside a synctest bubble), or readErr;
// WriteTo records. Only the goroutine that reads may write.
type fakeFrames struct {
	in        chan []byte
	readErr   error
	deadline  time.Time
	deadlines int // SetReadDeadline calls
	written   []fakeFrame
	writeErr  error
	// pendingErr is returned by the next write only, as a socket's
	// pending error (sk_err) is.
	pendingErr error
	closed     bool
}

// fakeFrame is one frame written and the address it was written to.
type fakeFrame struct {
	Frame []byte
	To    net.Addr
}

func (f *fakeFrames) ReadFrom(b []byte) (int, net.Addr, error) {
	if f.readErr != nil {
		return 0, nil, f.readErr
	}
	var expired <-chan time.Time
	if !f.deadline.IsZero() {
		t := time.NewTimer(time.Until(f.deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case fr := <-f.in:
		return copy(b, fr), &packet.Addr{}, nil
	case <-expired:
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (f *fakeFrames) WriteTo(b []byte, addr net.Addr) (int, error) {
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	if err := f.pendingErr; err != nil {
		f.pendingErr = nil
		return 0, err
	}
	f.written = append(f.written, fakeFrame{Frame: append([]byte(nil), b...), To: addr})
	return len(b), nil
}

func (f *fakeFrames) SetReadDeadline(t time.Time) error {
	f.deadlines++
	f.deadline = t
	return nil
}

func (f *fakeFrames) Close() error {
	f.closed = true
	return nil
}

// fakeAddrs is an addrLister that returns list, or err, for any link and
// family, and records what it was asked.
type fakeAddrs struct {
	list   []netlink.Addr
	err    error
	asked  []string // "index/family"
	closed bool
}

func (f *fakeAddrs) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	f.asked = append(f.asked, fmt.Sprintf("%d/%d", link.Attrs().Index, family))
	return f.list, f.err
}

func (f *fakeAddrs) Close() { f.closed = true }

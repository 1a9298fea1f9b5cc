//go:build linux

package link

import (
	"net"
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
	f.out = append(f.out, fakeWrite[CM]{Payload: append([]byte(nil), b...), CM: *cm, Dst: dst})
	return len(b), nil
}

func (f *fakeIP[CM]) Close() error {
	f.closed = true
	return nil
}

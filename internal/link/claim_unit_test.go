//go:build linux

package link

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

var (
	vipA, vipB = netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101")
	otherMAC   = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	zeroMAC    = net.HardwareAddr(make([]byte, 6))
)

// arpFrame is an Ethernet frame carrying one ARP packet, broadcast.
func arpFrame(t *testing.T, op arp.Operation, sha net.HardwareAddr, sip netip.Addr, tha net.HardwareAddr, tip netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, sha, sip, tha, tip)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fb, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: sha, EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fb
}

// TestClaimWatchProbes: Await first sends one RFC 5227 probe per IPv4 VIP
// (sender IP 0.0.0.0, our MAC, target MAC zero), broadcast (IPv6 VIPs get
// a solicitation, TestClaimWatchProbes6); with ctx over already it then
// returns ctx's cause without reading.
func TestClaimWatchProbes(t *testing.T) {
	f := &fakeFrames{}
	w := newClaimWatch(testIfi, f, nil)
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("stopped")
	cancel(stop)
	if err := w.Await(ctx, []netip.Addr{vipA, vipB}); err != stop {
		t.Errorf("Await with ctx over = %v, want its cause %v", err, stop)
	}
	mac, bcast := testIfi.HardwareAddr.String(), ethernet.Broadcast.String()
	var want []frame
	for _, vip := range []netip.Addr{vipA, vipB} {
		want = append(want, frame{EthSrc: mac, EthDst: bcast, Op: arp.OperationRequest, SenderHW: mac,
			SenderIP: netip.IPv4Unspecified(), TargetHW: zeroMAC.String(), TargetIP: vip})
	}
	if diff := cmp.Diff(want, arpFrames(t, f.written), addrCmp); diff != "" {
		t.Errorf("probes (-want +got):\n%s", diff)
	}
	if f.deadlines != 0 {
		t.Errorf("Await read %d times with ctx over, want 0", f.deadlines)
	}
	if err := w.Close(); err != nil || !f.closed {
		t.Errorf("Close = %v, closed %v; want the socket closed", err, f.closed)
	}
}

// TestClaimWatchClaim: Await returns on the first ARP packet from another
// MAC with a watched VIP as sender, whether request or reply, and on
// nothing before it: our own announcement, another address's, another
// host's probe (sender 0.0.0.0), frames that are not ARP or are cut short.
// Every read is bounded by claimPoll, so a claim that arrives at 120 ms,
// after the five frames before it, is seen at 120 ms, on the third read
// after them.
func TestClaimWatchClaim(t *testing.T) {
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		t.Run(op.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mac := testIfi.HardwareAddr
				ours := arpFrame(t, arp.OperationRequest, mac, vipA, zeroMAC, vipA)
				notARP := append(append([]byte(nil), ours...), 0)
				notARP[12], notARP[13] = 0x08, 0x00         // EtherType IPv4
				f := &fakeFrames{in: make(chan []byte, 16)} // room for all, so no sender blocks
				for _, fr := range [][]byte{
					ours,
					arpFrame(t, arp.OperationRequest, otherMAC, netip.MustParseAddr("198.18.0.102"), zeroMAC, vipA),
					arpFrame(t, arp.OperationRequest, otherMAC, netip.IPv4Unspecified(), zeroMAC, vipB),
					notARP,
					ours[:20],
				} {
					f.in <- fr
				}
				claim := arpFrame(t, op, otherMAC, vipB, mac, vipB)
				sent := make(chan struct{})
				go func() {
					defer close(sent)
					time.Sleep(120 * time.Millisecond)
					f.in <- claim
					f.in <- claim // left unread
				}()
				w := newClaimWatch(testIfi, f, nil)
				start := time.Now()
				if err := w.Await(t.Context(), []netip.Addr{vipA, vipB}); err != nil {
					t.Fatalf("Await: %v, want nil", err)
				}
				if took := time.Since(start); took != 120*time.Millisecond || f.deadlines != 5+3 {
					t.Errorf("Await returned after %v and %d reads, want 120ms and 5+3", took, f.deadlines)
				}
				<-sent
				if len(f.in) != 1 {
					t.Errorf("%d frames left unread, want 1: Await reads on after the claim", len(f.in))
				}
			})
		})
	}
}

// TestClaimWatchContext: without a claim Await polls every claimPoll
// until ctx ends, and returns its cause.
func TestClaimWatchContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFrames{}
		w := newClaimWatch(testIfi, f, nil)
		timeout := errors.New("no claim")
		ctx, cancel := context.WithTimeoutCause(t.Context(), 1025*time.Millisecond, timeout)
		defer cancel()
		start := time.Now()
		if err := w.Await(ctx, []netip.Addr{vipA}); err != timeout {
			t.Errorf("Await = %v, want ctx's cause %v", err, timeout)
		}
		// The read that ctx's end falls in runs to its deadline: 21
		// reads of 50 ms.
		if took := time.Since(start); took != 1050*time.Millisecond || f.deadlines != 21 {
			t.Errorf("Await returned after %v and %d reads, want 1.05s and 21", took, f.deadlines)
		}
	})
}

// TestClaimWatchErrors: a socket error other than the read deadline ends
// Await, as does a probe that cannot be sent, naming the interface.
func TestClaimWatchErrors(t *testing.T) {
	f := &fakeFrames{readErr: net.ErrClosed}
	err := newClaimWatch(testIfi, f, nil).Await(t.Context(), []netip.Addr{vipA})
	if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "watching claims on eth0") {
		t.Errorf("Await with the socket closed = %v, want net.ErrClosed, naming eth0", err)
	}
	f = &fakeFrames{writeErr: errors.New("network is down")}
	err = newClaimWatch(testIfi, f, nil).Await(t.Context(), []netip.Addr{vipA})
	if err == nil || err.Error() != "watching claims on eth0: probing 198.18.0.100: network is down" {
		t.Errorf("Await with the probe failing = %v", err)
	}
}

// TestClaimWatchProbeAnswer: the answer to our probe (a reply to our MAC
// with target IP 0.0.0.0) shows the VIP held, not announced: Await waits
// on for the announcement and returns at it, or at ctx's end with ctx's
// cause wrapped in ErrHeld. A preempting node answers ARP as soon as it
// has added the VIP, before its gratuitous ARP; returning on the answer
// reset the clients while their caches still named us.
func TestClaimWatchProbeAnswer(t *testing.T) {
	mac := testIfi.HardwareAddr
	answer := func(t *testing.T) []byte {
		return arpFrame(t, arp.OperationReply, otherMAC, vipA, mac, netip.IPv4Unspecified())
	}
	t.Run("then announced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeFrames{in: make(chan []byte, 4)}
			f.in <- answer(t)
			go func() {
				time.Sleep(120 * time.Millisecond)
				f.in <- arpFrame(t, arp.OperationRequest, otherMAC, vipA, zeroMAC, vipA)
			}()
			start := time.Now()
			if err := newClaimWatch(testIfi, f, nil).Await(t.Context(), []netip.Addr{vipA}); err != nil {
				t.Fatalf("Await: %v, want nil at the announcement", err)
			}
			if took := time.Since(start); took != 120*time.Millisecond {
				t.Errorf("Await returned after %v, want 120ms: at the announcement, not the answer", took)
			}
		})
	})
	t.Run("never announced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeFrames{in: make(chan []byte, 4)}
			f.in <- answer(t)
			timeout := errors.New("no claim")
			ctx, cancel := context.WithTimeoutCause(t.Context(), 500*time.Millisecond, timeout)
			defer cancel()
			err := newClaimWatch(testIfi, f, nil).Await(ctx, []netip.Addr{vipA})
			if !errors.Is(err, ErrHeld) || !errors.Is(err, timeout) {
				t.Errorf("Await = %v, want ErrHeld wrapping ctx's cause %v", err, timeout)
			}
		})
	})
	// Another host's answer to someone else's probe is no answer to ours:
	// it names the VIP as sender to a third MAC, so it counts as a claim
	// (the neighbours that see it, if any, learn the holder).
	t.Run("answer to another prober", func(t *testing.T) {
		f := &fakeFrames{in: make(chan []byte, 4)}
		f.in <- arpFrame(t, arp.OperationReply, otherMAC, vipA, net.HardwareAddr{2, 0, 0, 0, 0, 3}, netip.IPv4Unspecified())
		if err := newClaimWatch(testIfi, f, nil).Await(t.Context(), []netip.Addr{vipA}); err != nil {
			t.Errorf("Await = %v, want nil", err)
		}
	})
}

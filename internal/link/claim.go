//go:build linux

package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ClaimWatch sees ARP packets and neighbour advertisements on one
// interface, to learn when another host announces an address this one
// still holds: the gratuitous ARP or unsolicited NA of the backup that took
// over after our bow-out, which is the moment the neighbours' caches move
// to it.
type ClaimWatch struct {
	ifi  *net.Interface
	conn frameConn
	h    addrLister // finds the link-local source of the IPv6 probe
}

// frameConn is what a ClaimWatch uses of a *packet.Conn, so that tests can
// supply an in-memory one.
type frameConn interface {
	frameWriter
	ReadFrom(b []byte) (int, net.Addr, error)
	SetReadDeadline(t time.Time) error
}

// claimPoll bounds each read, so that Await notices its context.
const claimPoll = 50 * time.Millisecond

// NewClaimWatch opens a packet socket for ARP and neighbour advertisements
// (claimFilter), and a netlink handle, on ifname in the calling thread's
// namespace. Open it before the packet that makes the other host announce,
// so that its answer cannot slip by unread.
func NewClaimWatch(ifname string) (*ClaimWatch, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("watching claims on %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("watching claims on %s: no Ethernet address", ifname)
	}
	filter, err := claimFilter()
	if err != nil {
		return nil, fmt.Errorf("watching claims on %s: assembling BPF filter: %w", ifname, err)
	}
	// ETH_P_ALL, so that one socket sees both families; the filter,
	// applied before the socket is bound (packet.Listen), lets only ARP
	// and neighbour advertisements through.
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("watching claims on %s: opening packet socket: %w", ifname, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("watching claims on %s: opening netlink handle: %w", ifname, err)
	}
	return newClaimWatch(ifi, c, h), nil
}

// newClaimWatch returns a ClaimWatch on ifi, which must have an Ethernet
// address, that reads and writes frames through c and finds its IPv6
// source through h: the socket and handle NewClaimWatch opens, or a test's
// fakes. The ClaimWatch owns both.
func newClaimWatch(ifi *net.Interface, c frameConn, h addrLister) *ClaimWatch {
	return &ClaimWatch{ifi: ifi, conn: c, h: h}
}

// Await returns nil once an ARP packet from another hardware address names
// one of vips (IPv4) as its sender, other than the answer to its own
// probe, or an unsolicited neighbour advertisement with Override set from
// another hardware address has one of vips (IPv6) as its target (judgeNA),
// or ctx's error when ctx ends first. Other frames are skipped.
//
// It first sends an ARP probe for each VIP (RFC 5227: sender IP 0.0.0.0,
// so no cache learns from it). The answer says that a host holds the VIP,
// not that it has announced it: a preempting master adds the VIP, and so
// answers, before its gratuitous ARP, which waits for its broker. Letting
// go on the answer resets the clients while their caches still name us,
// and they reconnect to us once more. So an answer only marks the VIP as
// held; Await then waits on for the announcement, and if ctx ends first
// returns ctx's cause wrapped with ErrHeld, so the caller knows its
// wait was not in vain: the holder's announcement, if it went out before
// the watch was opened, cannot be seen any more. Our own kernel never sees
// the probe. For an IPv6 VIP the probe is a neighbour solicitation from
// our link-local address (sendNS), and its answer a solicited
// advertisement to our hardware address; without a link-local address
// Await only waits for the announcement.
func (w *ClaimWatch) Await(ctx context.Context, vips []netip.Addr) error {
	var src netip.Addr
	var srcErr error
	for _, v := range vips {
		var err error
		switch {
		case v.Is4():
			err = sendARP(w.conn, arp.OperationRequest, w.ifi.HardwareAddr, netip.IPv4Unspecified(),
				make(net.HardwareAddr, 6), v)
		case !src.IsValid() && srcErr == nil:
			src, srcErr = w.linkLocal()
			fallthrough
		default:
			// Without a link-local address there is no probe, only the
			// wait for the announcement, which needs none.
			if srcErr == nil {
				err = sendNS(w.conn, w.ifi.HardwareAddr, src, v)
			}
		}
		if err != nil {
			return fmt.Errorf("watching claims on %s: probing %v: %w", w.ifi.Name, v, err)
		}
	}
	buf := make([]byte, claimSnap)
	var f ethernet.Frame
	held := false
	for ctx.Err() == nil {
		if err := w.conn.SetReadDeadline(time.Now().Add(claimPoll)); err != nil {
			return err
		}
		n, _, err := w.conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return fmt.Errorf("watching claims on %s: %w", w.ifi.Name, err)
		}
		if f.UnmarshalBinary(buf[:n]) != nil {
			continue
		}
		if f.EtherType == ethernet.EtherTypeIPv6 {
			switch judgeNA(&f, w.ifi.HardwareAddr, vips) {
			case naHeld:
				held = true
			case naClaim:
				return nil
			}
			continue
		}
		var p arp.Packet
		if f.EtherType != ethernet.EtherTypeARP || p.UnmarshalBinary(f.Payload) != nil {
			continue
		}
		if slices.Equal(p.SenderHardwareAddr, w.ifi.HardwareAddr) || !slices.Contains(vips, p.SenderIP.Unmap()) {
			continue
		}
		if probeAnswer(&p, w.ifi.HardwareAddr) {
			held = true
			continue
		}
		return nil
	}
	if held {
		return fmt.Errorf("%w: %w", ErrHeld, context.Cause(ctx))
	}
	return context.Cause(ctx)
}

// probeAnswer reports whether p answers our probe: RFC 5227 §2.1.1 replies
// go back to the prober's hardware address with target IP 0.0.0.0, the
// prober's sender IP (Linux arp_process replies to a probe so).
func probeAnswer(p *arp.Packet, ours net.HardwareAddr) bool {
	return p.Operation == arp.OperationReply && p.TargetIP.Unmap() == netip.IPv4Unspecified() &&
		slices.Equal(p.TargetHardwareAddr, ours)
}

// Close closes the socket and the netlink handle.
func (w *ClaimWatch) Close() error {
	if w.h != nil {
		w.h.Close()
	}
	return w.conn.Close()
}

//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// Flood bounds: every flood ends, whatever a caller asks for.
const (
	maxFloodRate = 1000 // adverts per second
	maxFloodTime = time.Minute
)

// group is where CARP and VRRP advertise over IPv4 (RFC 5798 §5.1.1.2).
var group = net.IPv4(224, 0, 0, 18)

// Attacker is a host on the lab segment that is not a member of any
// cluster: it captures the adverts it sees and sends them back, changed or
// not, from its own address or from any address it claims. It only ever
// sends on its node's interface, inside the lab.
type Attacker struct {
	// Node is where it runs, the lab's client or a spare node.
	Node *Node

	rx, tx *ipv4.RawConn
	done   chan struct{}

	mu     sync.Mutex
	last   map[netip.Addr]Advert // latest advert per source
	counts map[netip.Addr]int    // adverts seen per source
	seen   chan struct{}         // closed and replaced at each advert
}

// Attacker opens, in n's namespace, a raw protocol 112 socket joined to
// 224.0.0.18 that records every advert on the segment, and a raw socket
// with IP_HDRINCL to send with any source address. Both are closed when
// tb's test ends. It fails tb on error.
func (n *Node) Attacker(tb testing.TB) *Attacker {
	tb.Helper()
	a := &Attacker{Node: n, done: make(chan struct{}), last: map[netip.Addr]Advert{},
		counts: map[netip.Addr]int{}, seen: make(chan struct{})}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(n.Iface)
		if err != nil {
			return err
		}
		if a.rx, err = rawConn(); err != nil {
			return err
		}
		if err := a.rx.JoinGroup(ifi, &net.IPAddr{IP: group}); err != nil {
			a.rx.Close()
			return fmt.Errorf("joining %v: %w", group, err)
		}
		if a.tx, err = rawConn(); err != nil {
			a.rx.Close()
			return err
		}
		// The attacker must not read its own packets back as adverts.
		err = a.tx.SetMulticastLoopback(false)
		if err == nil {
			err = a.tx.SetMulticastInterface(ifi)
		}
		if err != nil {
			a.rx.Close()
			a.tx.Close()
		}
		return err
	})
	if err != nil {
		tb.Fatalf("lab: opening the attacker's sockets on %s: %v", n.Name, err)
	}
	go a.read()
	tb.Cleanup(func() {
		a.rx.Close()
		a.tx.Close()
		<-a.done
	})
	return a
}

// rawConn opens a raw protocol 112 socket with IP_HDRINCL: reads return the
// IP header (source and TTL), writes send the header given.
func rawConn() (*ipv4.RawConn, error) {
	c, err := net.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("opening raw socket: %w", err)
	}
	r, err := ipv4.NewRawConn(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("setting IP_HDRINCL: %w", err)
	}
	return r, nil
}

// read records adverts until the socket is closed.
func (a *Attacker) read() {
	defer close(a.done)
	buf := make([]byte, 1500)
	for {
		h, p, _, err := a.rx.ReadFrom(buf)
		if err != nil {
			return
		}
		src, ok1 := netip.AddrFromSlice(h.Src.To4())
		dst, ok2 := netip.AddrFromSlice(h.Dst.To4())
		if !ok1 || !ok2 {
			continue
		}
		ad := Advert{Src: src, Dst: dst, TTL: h.TTL, Payload: append([]byte(nil), p...), At: time.Now()}
		a.mu.Lock()
		a.last[src] = ad
		a.counts[src]++
		close(a.seen)
		a.seen = make(chan struct{})
		a.mu.Unlock()
	}
}

// Capture waits for the next advert from src, one that arrives after the
// call, and returns it; the freshest advert is the one a receiver has
// just accepted, the hardest case for replay detection.
func (a *Attacker) Capture(ctx context.Context, src netip.Addr) (Advert, error) {
	a.mu.Lock()
	from := a.counts[src]
	a.mu.Unlock()
	for {
		a.mu.Lock()
		n, ad, seen := a.counts[src], a.last[src], a.seen
		a.mu.Unlock()
		if n > from {
			return ad, nil
		}
		select {
		case <-seen:
		case <-a.done:
			return Advert{}, errors.New("lab: attacker closed")
		case <-ctx.Done():
			return Advert{}, fmt.Errorf("lab: capturing an advert from %v: %w", src, context.Cause(ctx))
		}
	}
}

// Seen returns how many adverts the attacker has read from src.
func (a *Attacker) Seen(src netip.Addr) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts[src]
}

// Send sends payload once to 224.0.0.18 with source address src (the
// attacker's own or a spoofed one) and TTL 255, as a cluster member would.
func (a *Attacker) Send(payload []byte, src netip.Addr) error {
	h := &ipv4.Header{Version: ipv4.Version, Len: ipv4.HeaderLen, TOS: 0xc0,
		TotalLen: ipv4.HeaderLen + len(payload), TTL: 255, Protocol: 112,
		Src: src.AsSlice(), Dst: group}
	if err := a.tx.WriteTo(h, payload, nil); err != nil {
		return fmt.Errorf("lab: sending %d bytes from %v: %w", len(payload), src, err)
	}
	return nil
}

// Flood sends payload from src perSecond times a second for d, or until ctx
// is done, and returns how many it sent. Rate and duration are capped at
// 1000/s and a minute.
func (a *Attacker) Flood(ctx context.Context, payload []byte, src netip.Addr, perSecond int,
	d time.Duration) (int, error) {
	if perSecond < 1 || perSecond > maxFloodRate || d <= 0 || d > maxFloodTime {
		return 0, fmt.Errorf("lab: flood of %d/s for %v, want 1..%d/s for at most %v", perSecond, d,
			maxFloodRate, maxFloodTime)
	}
	total := int(d.Seconds() * float64(perSecond))
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for sent := 0; sent < total; sent++ {
		if err := a.Send(payload, src); err != nil {
			return sent, err
		}
		select {
		case <-ctx.Done():
			return sent + 1, nil
		case <-tick.C:
		}
	}
	return total, nil
}

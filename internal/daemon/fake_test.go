package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/carpd/carpd/internal/link"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
)

// segment is an in-memory Ethernet segment: every packet written by one
// fake node's socket reaches the sockets of the other nodes on it.
type segment struct {
	mu     sync.Mutex
	conns  []*fakeConn
	claims []*fakeClaims
	// deaf nodes receive no multicast, as behind a switch dropping the
	// group (heartbeat_test.go).
	deaf map[*fakeNet]bool
}

// fakeClaims is a claim watch: announced receives every VIP another node
// announces after the watch was opened.
type fakeClaims struct {
	net       *fakeNet
	announced chan netip.Addr
}

func (c *fakeClaims) Await(ctx context.Context, vips []netip.Addr) error {
	// As the real watch's ARP probe: a node holding a VIP already answers.
	if c.net.seg.held(c.net, vips) {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case a := <-c.announced:
			if slices.Contains(vips, a) {
				return nil
			}
		}
	}
}

func (c *fakeClaims) Close() error {
	s := c.net.seg
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims = slices.DeleteFunc(s.claims, func(x *fakeClaims) bool { return x == c })
	return nil
}

func (n *fakeNet) WatchClaims(string) (ClaimWatch, error) {
	c := &fakeClaims{net: n, announced: make(chan netip.Addr, 64)}
	n.seg.mu.Lock()
	defer n.seg.mu.Unlock()
	n.seg.claims = append(n.seg.claims, c)
	return c, nil
}

// held reports whether a node other than from holds one of vips.
func (s *segment) held(from *fakeNet, vips []netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.net == from {
			continue
		}
		for _, a := range c.net.addrsOf(c.iface) {
			if slices.Contains(vips, netip.MustParsePrefix(a).Addr()) {
				return true
			}
		}
	}
	return false
}

// announced tells the other nodes' claim watches about vips.
func (s *segment) announced(from *fakeNet, vips []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.claims {
		if c.net == from {
			continue
		}
		for _, v := range vips {
			select {
			case c.announced <- v:
			default:
			}
		}
	}
}

// deliver copies a packet to every other socket that would receive it.
func (s *segment) deliver(from *fakeConn, payload []byte, dst netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c == from || c.family != from.family || !c.net.linkUp(c.iface) {
			continue
		}
		if dst.IsMulticast() && (c.unicast || c.group != dst || s.deaf[c.net]) || !dst.IsMulticast() && c.src != dst {
			continue
		}
		p := link.Packet{Src: from.src, Dst: dst, TTL: 255, Payload: slices.Clone(payload)}
		select {
		case c.in <- p:
		default: // a full socket buffer drops, as the kernel would
		}
	}
}

func (s *segment) remove(c *fakeConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = slices.DeleteFunc(s.conns, func(x *fakeConn) bool { return x == c })
}

// fakeNet is one node's network stack on a segment.
type fakeNet struct {
	seg   *segment
	trace *tracer // optional: records address and announce calls

	mu       sync.Mutex
	ifaces   map[string]*fakeIface
	watchers []chan<- link.Event
	failAdd  error // returned by every Add while set
}

// fakeIface is one interface of a fake node.
type fakeIface struct {
	up       bool
	primary  netip.Addr
	addrs    map[netip.Prefix]string // address → label
	marked   map[netip.Prefix]bool   // carrying carpd's mark (leftovers_test.go)
	announce [][]netip.Addr
}

// newFakeNet returns a node with one interface per name, named addresses
// as primaries.
func newFakeNet(seg *segment, primaries map[string]string) *fakeNet {
	n := &fakeNet{seg: seg, ifaces: make(map[string]*fakeIface)}
	for name, a := range primaries {
		n.ifaces[name] = &fakeIface{up: true, primary: netip.MustParseAddr(a),
			addrs: make(map[netip.Prefix]string)}
	}
	return n
}

func (n *fakeNet) get(iface string) (*fakeIface, error) {
	fi, ok := n.ifaces[iface]
	if !ok {
		return nil, fmt.Errorf("no interface %q", iface)
	}
	return fi, nil
}

func (n *fakeNet) linkUp(iface string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	fi, ok := n.ifaces[iface]
	return ok && fi.up
}

func (n *fakeNet) Listen(iface string, family int, o ListenOptions) (PacketConn, error) {
	n.mu.Lock()
	fi, err := n.get(iface)
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	src := o.Src
	if !src.IsValid() {
		src = fi.primary
	}
	c := &fakeConn{net: n, iface: iface, family: family, src: src, group: o.Group, unicast: o.Unicast,
		in: make(chan link.Packet, 256), closed: make(chan struct{})}
	n.seg.mu.Lock()
	n.seg.conns = append(n.seg.conns, c)
	n.seg.mu.Unlock()
	return c, nil
}

func (n *fakeNet) Addrs(iface string) (AddrSet, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.get(iface); err != nil {
		return nil, err
	}
	return &fakeAddrs{n: n, iface: iface}, nil
}

func (n *fakeNet) Announcer(iface string) (Announcer, error) {
	return &fakeAnnouncer{n: n, iface: iface}, nil
}

func (n *fakeNet) Primary(iface string, family int) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fi, err := n.get(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	return fi.primary, nil
}

func (n *fakeNet) Label(iface string, p carp.Proto, id uint8) string {
	return fmt.Sprintf("%s:%s%d", iface, p, id)
}

func (n *fakeNet) LinkUp(iface string) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fi, err := n.get(iface)
	if err != nil {
		return false, err
	}
	return fi.up, nil
}

func (n *fakeNet) Watch(ctx context.Context, ifaces []string, ch chan<- link.Event) error {
	n.mu.Lock()
	n.watchers = append(n.watchers, ch)
	n.mu.Unlock()
	<-ctx.Done()
	n.mu.Lock()
	n.watchers = slices.DeleteFunc(n.watchers, func(c chan<- link.Event) bool { return c == ch })
	n.mu.Unlock()
	return ctx.Err()
}

// emit sends ev to the watchers; called without n.mu, since the daemon
// may call back into n while handling an earlier event.
func (n *fakeNet) emit(ev link.Event) {
	n.mu.Lock()
	ws := slices.Clone(n.watchers)
	n.mu.Unlock()
	for _, ch := range ws {
		ch <- ev
	}
}

// setLink changes carrier and reports it.
func (n *fakeNet) setLink(iface string, up bool) {
	n.mu.Lock()
	n.ifaces[iface].up = up
	n.mu.Unlock()
	kind := link.LinkDown
	if up {
		kind = link.LinkUp
	}
	n.emit(link.Event{Kind: kind, Iface: iface})
}

// addrsOf returns the addresses on iface, sorted.
func (n *fakeNet) addrsOf(iface string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for p := range n.ifaces[iface].addrs {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// rounds returns how many announce rounds iface sent.
func (n *fakeNet) rounds(iface string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ifaces[iface].announce)
}

// put places an address as a leftover or foreign address would be.
func (n *fakeNet) put(iface, prefix, label string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ifaces[iface].addrs[netip.MustParsePrefix(prefix)] = label
}

// yank removes an address behind the daemon's back.
func (n *fakeNet) yank(iface, prefix string) {
	p := netip.MustParsePrefix(prefix)
	n.mu.Lock()
	delete(n.ifaces[iface].addrs, p)
	n.mu.Unlock()
	n.emit(link.Event{Kind: link.AddrRemoved, Iface: iface, Addr: p})
}

type fakeAddrs struct {
	n     *fakeNet
	iface string
}

func (a *fakeAddrs) Add(vip netip.Prefix, label string) error {
	a.n.trace.add("add " + vip.String())
	a.n.mu.Lock()
	defer a.n.mu.Unlock()
	if a.n.failAdd != nil {
		return a.n.failAdd
	}
	a.n.ifaces[a.iface].addrs[vip] = label
	return nil
}

func (a *fakeAddrs) Remove(vip netip.Prefix) error {
	a.n.trace.add("remove " + vip.String())
	a.n.mu.Lock()
	fi := a.n.ifaces[a.iface]
	_, had := fi.addrs[vip]
	delete(fi.addrs, vip)
	a.n.mu.Unlock()
	if had {
		// Netlink reports our own removals too.
		a.n.emit(link.Event{Kind: link.AddrRemoved, Iface: a.iface, Addr: vip})
	}
	return nil
}

func (a *fakeAddrs) Has(addr netip.Addr) (bool, error) {
	a.n.mu.Lock()
	defer a.n.mu.Unlock()
	for p := range a.n.ifaces[a.iface].addrs {
		if p.Addr() == addr {
			return true, nil
		}
	}
	return false, nil
}

func (a *fakeAddrs) Labeled(label string) ([]netip.Prefix, error) {
	a.n.mu.Lock()
	defer a.n.mu.Unlock()
	var out []netip.Prefix
	for p, l := range a.n.ifaces[a.iface].addrs {
		if l == label {
			out = append(out, p)
		}
	}
	return out, nil
}

type fakeAnnouncer struct {
	n     *fakeNet
	iface string
}

func (f *fakeAnnouncer) Announce(vips []netip.Addr) error {
	f.n.trace.add(fmt.Sprintf("announce %v", vips))
	f.n.mu.Lock()
	fi := f.n.ifaces[f.iface]
	fi.announce = append(fi.announce, slices.Clone(vips))
	f.n.mu.Unlock()
	// Outside n.mu: segment.deliver takes the segment's lock, then a
	// node's.
	if f.n.seg != nil {
		f.n.seg.announced(f.n, vips)
	}
	return nil
}

func (f *fakeAnnouncer) Close() error { return nil }

// fakeConn is one socket on the segment.
type fakeConn struct {
	net     *fakeNet
	iface   string
	family  int
	src     netip.Addr
	group   netip.Addr
	unicast bool
	in      chan link.Packet
	once    sync.Once
	closed  chan struct{}
}

func (c *fakeConn) ReadPacket(buf []byte) (link.Packet, error) {
	select {
	case p := <-c.in:
		n := copy(buf, p.Payload)
		p.Payload = buf[:n]
		return p, nil
	case <-c.closed:
		return link.Packet{}, errors.New("use of closed connection")
	}
}

func (c *fakeConn) WriteTo(payload []byte, dst netip.Addr) error {
	if !c.net.linkUp(c.iface) {
		return errors.New("network is down")
	}
	c.net.seg.deliver(c, payload, dst)
	return nil
}

func (c *fakeConn) Src() netip.Addr { return c.src }

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.net.seg.remove(c)
	})
	return nil
}

// tracer appends one line per event to a file that hook scripts write to
// as well, so the order of fakes and hooks can be checked together.
type tracer struct {
	mu   sync.Mutex
	path string
}

func newTracer(t *testing.T) *tracer {
	return &tracer{path: t.TempDir() + "/trace"}
}

func (tr *tracer) add(line string) {
	if tr == nil {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	f, err := os.OpenFile(tr.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// lines returns the trace so far.
func (tr *tracer) lines() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	b, err := os.ReadFile(tr.path)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// traceScript writes an executable hook that appends its name, CARPD_STATE
// and arguments to tr's file.
func traceScript(t *testing.T, tr *tracer, name string) []string {
	t.Helper()
	path := t.TempDir() + "/" + name
	body := fmt.Sprintf("#!/bin/sh\necho \"%s $CARPD_STATE $*\" >> %q\n", name, tr.path)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{path}
}

// waitFor polls cond every 5 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

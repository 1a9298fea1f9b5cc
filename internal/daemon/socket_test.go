package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/link"
	"github.com/google/go-cmp/cmp"
)

var (
	ownAddr  = netip.MustParseAddr("198.18.0.1")
	peerAddr = netip.MustParseAddr("198.18.0.2")
	// strangerAddr is a host on the segment that is no cluster member.
	strangerAddr = netip.MustParseAddr("198.18.0.200")
	group4       = netip.MustParseAddr("224.0.0.18")
)

// stubConn is a PacketConn for tests that call socket.handle directly.
type stubConn struct{ src netip.Addr }

func (c stubConn) ReadPacket([]byte) (link.Packet, error) { select {} }
func (c stubConn) WriteTo([]byte, netip.Addr) error       { return nil }
func (c stubConn) Src() netip.Addr                        { return c.src }
func (c stubConn) Close() error                           { return nil }

// TestDemux feeds forged and genuine packets to a shared socket serving a
// CARP, a VRRPv2 and a VRRPv3 router, and checks what each router got and
// which drop counter each packet landed in.
func TestDemux(t *testing.T) {
	carpR := carpRouter("c5", 5, 0, "s3cret", "198.18.0.100/32")
	carpR.AcceptFrom = []netip.Prefix{netip.PrefixFrom(peerAddr, 32), netip.PrefixFrom(ownAddr, 32)}
	v2R := vrrpRouter("v6", 6, 100, "198.18.0.101/32")
	v2R.Machine.Proto, v2R.Machine.Interval, v2R.Password = carp.ProtoVRRP2, time.Second, []byte("pw")
	v3R := vrrpRouter("v7", 7, 100, "198.18.0.102/32")
	// Our own last advert, 1 s after the peer's genuine ones were made:
	// an advert of ours coming back with an older counter is a replay.
	t1 := carp.CounterEpoch.Add(1000 * time.Hour)
	ownSent := carp.NextCounter(0, carp.NodeByte(ownAddr), t1.Add(time.Second))

	type result struct {
		Delivered map[string]int
		Dropped   map[string]map[string]uint64
	}
	// Peer encoders produce the genuine packets.
	// from is the node whose counter a CARP advert carries.
	enc := func(r config.Router, from netip.Addr) *encoder {
		e, err := newEncoder(&r, newReplay(from))
		if err != nil {
			t.Fatal(err)
		}
		e.now = func() time.Time { return t1 }
		return e
	}
	carpAd := carp.Advert{Proto: carp.ProtoCARP, ID: 5, AdvBase: 1, AdvSkew: 10}
	v2Ad := carp.Advert{Proto: carp.ProtoVRRP2, ID: 6, Priority: 150, Interval: time.Second}
	v3Ad := carp.Advert{Proto: carp.ProtoVRRP3, ID: 7, Priority: 150, Interval: testInterval}
	build := func(r config.Router, from netip.Addr, ad carp.Advert, mod func([]byte) []byte) []byte {
		b, err := enc(r, from).encode(ad, peerAddr, group4)
		if err != nil {
			t.Fatal(err)
		}
		b = slices.Clone(b)
		if mod != nil {
			b = mod(b)
		}
		return b
	}
	wrongPass := carpR
	wrongPass.Password = []byte("guess")
	v2NoPass := v2R
	v2NoPass.Password = nil
	v2Wrong := v2R
	v2Wrong.Password = []byte("nope")
	v3As6 := v3R // a VRRPv3 advert for id 6 reaches the VRRPv2 router
	v3As6.Machine.ID = 6

	tests := []struct {
		name    string
		payload []byte
		src     netip.Addr
		ttl     uint8
		want    string // router that gets it, or "router/reason", or "socket/reason"
	}{
		{"carp genuine", build(carpR, peerAddr, carpAd, nil), peerAddr, 255, "c5"},
		{"carp TTL 64 reaches the machine", build(carpR, peerAddr, carpAd, nil), peerAddr, 64, "c5"},
		{"carp wrong HMAC", build(wrongPass, peerAddr, carpAd, nil), peerAddr, 255, "c5/auth"},
		{"carp own advert replayed", build(carpR, ownAddr, carpAd, nil), peerAddr, 255, "c5/replay"},
		{"carp from outside accept_from", build(carpR, peerAddr, carpAd, nil), strangerAddr, 255, "c5/source"},
		{"own source address", build(carpR, peerAddr, carpAd, nil), ownAddr, 255, "c5/loop"},
		{"carp truncated", build(carpR, peerAddr, carpAd, func(b []byte) []byte { return b[:20] }), peerAddr, 255, "c5/short"},
		{"carp bad checksum", build(carpR, peerAddr, carpAd, func(b []byte) []byte { b[7] ^= 1; return b }), peerAddr, 255, "c5/checksum"},
		{"carp tampered counter", build(carpR, peerAddr, carpAd, reChecksum(func(b []byte) { b[15]++ })), peerAddr, 255, "c5/auth"},
		// docs/protocol.md §2.2: the HMAC covers vhid, VIPs and counter, not the
		// timing, so a changed advskew with a fixed checksum passes.
		{"carp tampered skew", build(carpR, peerAddr, carpAd, reChecksum(func(b []byte) { b[2]++ })), peerAddr, 255, "c5"},
		{"unknown vhid", build(carpR, peerAddr, carp.Advert{Proto: carp.ProtoCARP, ID: 9, AdvBase: 1}, nil), peerAddr, 255, "socket/vhid"},
		{"one byte", []byte{0x21}, peerAddr, 255, "socket/short"},
		{"vrrp2 genuine", build(v2R, peerAddr, v2Ad, nil), peerAddr, 255, "v6"},
		{"vrrp2 wrong password", build(v2Wrong, peerAddr, v2Ad, nil), peerAddr, 255, "v6/auth"},
		{"vrrp2 without password", build(v2NoPass, peerAddr, v2Ad, nil), peerAddr, 255, "v6/auth"},
		{"vrrp2 length", build(v2R, peerAddr, v2Ad, func(b []byte) []byte { return append(b, 0, 0, 0, 0) }), peerAddr, 255, "v6/length"},
		{"vrrp3 to a vrrp2 id", build(v3As6, peerAddr, carp.Advert{Proto: carp.ProtoVRRP3, ID: 6, Priority: 1, Interval: time.Second}, nil), peerAddr, 255, "v6/version"},
		{"vrrp3 genuine", build(v3R, peerAddr, v3Ad, nil), peerAddr, 255, "v7"},
		{"vrrp3 bad checksum", build(v3R, peerAddr, v3Ad, func(b []byte) []byte { b[6] ^= 0x80; return b }), peerAddr, 255, "v7/checksum"},
		{"vrrp3 not an advert", build(v3R, peerAddr, v3Ad, func(b []byte) []byte { b[0]++; b[6]--; return b }), peerAddr, 255, "v7/type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &socket{conn: stubConn{src: ownAddr}}
			s.table.Store(&rxTable{})
			got := result{Delivered: map[string]int{}, Dropped: map[string]map[string]uint64{}}
			ctrs := map[string]*counters{}
			for _, r := range []config.Router{carpR, v2R, v3R} {
				rp := newReplay(ownAddr)
				rp.sent.Store(ownSent)
				dec, err := newDecoder(&r, rp)
				if err != nil {
					t.Fatal(err)
				}
				ctrs[r.Name] = &counters{}
				s.set(&rxEntry{name: r.Name, proto: r.Machine.Proto, id: r.Machine.ID, dec: dec, ctr: ctrs[r.Name],
					deliver: func(ad carp.Advert) bool {
						if ad.Src != tt.src || ad.TTL != tt.ttl {
							t.Errorf("%s got advert from %v TTL %d", r.Name, ad.Src, ad.TTL)
						}
						got.Delivered[r.Name]++
						return true
					}}, false)
			}
			s.handle(link.Packet{Src: tt.src, Dst: group4, TTL: tt.ttl, Payload: tt.payload})
			for name, c := range ctrs {
				if m := c.droppedMap(); len(m) > 0 {
					got.Dropped[name] = m
				}
			}
			if m := s.ctr.droppedMap(); len(m) > 0 {
				got.Dropped["socket"] = m
			}
			want := result{Delivered: map[string]int{}, Dropped: map[string]map[string]uint64{}}
			if who, why, ok := strings.Cut(tt.want, "/"); ok {
				want.Dropped[who] = map[string]uint64{why: 1}
			} else {
				want.Delivered[tt.want] = 1
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDemuxQueueFull counts adverts a busy router could not take.
func TestDemuxQueueFull(t *testing.T) {
	r := vrrpRouter("v7", 7, 100, "198.18.0.102/32")
	dec, _ := newDecoder(&r, nil)
	s := &socket{conn: stubConn{src: ownAddr}}
	s.table.Store(&rxTable{})
	ctr := &counters{}
	s.set(&rxEntry{name: "v7", proto: carp.ProtoVRRP3, id: 7, dec: dec, ctr: ctr,
		deliver: func(carp.Advert) bool { return false }}, false)
	e, _ := newEncoder(&r, nil)
	b, _ := e.encode(carp.Advert{Proto: carp.ProtoVRRP3, ID: 7, Priority: 9, Interval: testInterval}, peerAddr, group4)
	for range 3 {
		s.handle(link.Packet{Src: peerAddr, Dst: group4, TTL: 255, Payload: b})
	}
	if diff := cmp.Diff(map[string]uint64{"queue": 3}, ctr.droppedMap()); diff != "" {
		t.Errorf("drops (-want +got):\n%s", diff)
	}
}

// reChecksum applies change to a CARP advert and fixes its checksum, so
// only the HMAC can tell.
func reChecksum(change func([]byte)) func([]byte) []byte {
	return func(b []byte) []byte {
		change(b)
		b[6], b[7] = 0, 0
		sum := carp.Checksum(b[:carp.HeaderLen])
		b[6], b[7] = byte(sum>>8), byte(sum)
		return b
	}
}

// droppingConn is a stubConn whose link layer discarded packets.
type droppingConn struct{ stubConn }

func (droppingConn) Dropped() map[string]uint64 { return map[string]uint64{"group": 3, "iface": 0} }

// TestSocketStatusLinkDrops: what the link layer discarded shows among the
// socket's drop reasons, next to the socket's own, and zero counts do not.
func TestSocketStatusLinkDrops(t *testing.T) {
	s := &socket{key: sockKey{iface: "eth0", family: 4, group: group4}, conn: droppingConn{stubConn{src: ownAddr}}}
	s.table.Store(&rxTable{})
	s.handle(link.Packet{Src: peerAddr, Dst: group4, TTL: 255, Payload: []byte{0x21, 99}})
	want := map[string]uint64{"group": 3, "vhid": 1}
	if diff := cmp.Diff(want, s.status().Dropped); diff != "" {
		t.Errorf("socket drops (-want +got):\n%s", diff)
	}
}

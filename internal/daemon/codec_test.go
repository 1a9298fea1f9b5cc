package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/link"
)

// TestDecodeReplay feeds one decoder, in order, what a peer carpd sends
// and what an attacker who captured it can make of it: every replay is
// dropped, whatever was rewritten outside the HMAC, while the counters of
// ucarp and the BSDs, which carry no tag, pass as before.
func TestDecodeReplay(t *testing.T) {
	r := carpRouter("c5", 5, 0, "s3cret", "198.18.0.100/32")
	peer, err := newEncoder(&r, newReplay(peerAddr))
	if err != nil {
		t.Fatal(err)
	}
	now := carp.CounterEpoch.Add(1000 * time.Hour)
	peer.now = func() time.Time { return now }
	ad := carp.Advert{Proto: carp.ProtoCARP, ID: 5, AdvBase: 1, AdvSkew: 10}
	send := func(at time.Duration) []byte {
		now = carp.CounterEpoch.Add(1000*time.Hour + at)
		b, err := peer.encode(ad, peerAddr, group4)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(b)
	}
	first, second := send(0), send(time.Second)
	bowOut := reChecksum(func(b []byte) { b[2], b[5] = 255, 255 })(slices.Clone(second))
	better := reChecksum(func(b []byte) { b[2] = 0 })(slices.Clone(first))
	// A ucarp advert: a random counter, incremented per advert.
	ucarp := func(c uint64) []byte {
		a, err := carp.NewAuth([]byte("s3cret"), 5, vipAddrs(&r), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := carp.Header{Version: 2, Type: 1, VHID: 5, AdvSkew: 10, AuthLen: 7, AdvBase: 1, Counter: c}
		a.Sign(&h)
		b, _ := h.MarshalBinary() // never fails for a Header
		return b
	}

	dec, err := newDecoder(&r, newReplay(ownAddr))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		b    []byte
		src  netip.Addr
		want error
	}{
		{"first advert", first, peerAddr, nil},
		{"second advert", second, peerAddr, nil},
		{"first again", first, peerAddr, carp.ErrReplay},
		{"first from the attacker's own address", first, strangerAddr, carp.ErrReplay},
		{"second as a bow-out", bowOut, peerAddr, carp.ErrReplay},
		{"second as a bow-out from the attacker", bowOut, strangerAddr, carp.ErrReplay},
		{"first with advskew 0", better, strangerAddr, carp.ErrReplay},
		{"the peer's next advert", send(2 * time.Second), peerAddr, nil},
		{"ucarp", ucarp(0x0123456789abcdef), peerAddr, nil},
		{"ucarp's next", ucarp(0x0123456789abcdf0), peerAddr, nil},
		// OpenBSD sends one counter for ever: not judged.
		{"ucarp's next again", ucarp(0x0123456789abcdf0), peerAddr, nil},
	}
	for _, s := range steps {
		_, err := dec.decode(link.Packet{Src: s.src, Dst: group4, TTL: 255, Payload: s.b})
		if !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
			t.Errorf("%s: %v, want %v", s.name, err, s.want)
		}
	}

	// Without a password anyone can sign, so counters are not judged.
	open := carpRouter("c5", 5, 0, "", "198.18.0.100/32")
	dec, err = newDecoder(&open, newReplay(ownAddr))
	if err != nil {
		t.Fatal(err)
	}
	peer, _ = newEncoder(&open, newReplay(peerAddr))
	peer.now = func() time.Time { return now }
	b, _ := peer.encode(ad, peerAddr, group4)
	for i := range 2 {
		if _, err := dec.decode(link.Packet{Src: peerAddr, Dst: group4, TTL: 255, Payload: b}); err != nil {
			t.Errorf("no password, advert %d: %v", i, err)
		}
	}
}

// TestDecodeSource checks accept_from and the unicast peer list for every
// protocol: a source outside them is dropped before anything else.
func TestDecodeSource(t *testing.T) {
	v3 := vrrpRouter("v7", 7, 100, "198.18.0.102/32")
	v2 := vrrpRouter("v6", 6, 100, "198.18.0.101/32")
	v2.Machine.Proto, v2.Machine.Interval, v2.Password = carp.ProtoVRRP2, time.Second, []byte("pw")
	c := carpRouter("c5", 5, 0, "s3cret", "198.18.0.100/32")
	ads := map[string]carp.Advert{
		"v7": {Proto: carp.ProtoVRRP3, ID: 7, Priority: 150, Interval: testInterval},
		"v6": {Proto: carp.ProtoVRRP2, ID: 6, Priority: 150, Interval: time.Second},
		"c5": {Proto: carp.ProtoCARP, ID: 5, AdvBase: 1},
	}
	tests := []struct {
		name   string
		accept []netip.Prefix
		peers  []netip.Addr
		src    netip.Addr
		want   error
	}{
		{"no filter", nil, nil, strangerAddr, nil},
		{"accepted address", []netip.Prefix{netip.PrefixFrom(peerAddr, 32)}, nil, peerAddr, nil},
		{"other address", []netip.Prefix{netip.PrefixFrom(peerAddr, 32)}, nil, strangerAddr, carp.ErrSource},
		{"inside a prefix", []netip.Prefix{netip.MustParsePrefix("198.18.0.0/29")}, nil, peerAddr, nil},
		{"outside a prefix", []netip.Prefix{netip.MustParsePrefix("198.18.0.0/29")}, nil, strangerAddr, carp.ErrSource},
		{"unicast peer", nil, []netip.Addr{peerAddr}, peerAddr, nil},
		{"not a unicast peer", nil, []netip.Addr{peerAddr}, strangerAddr, carp.ErrSource},
		{"peer outside accept_from", []netip.Prefix{netip.PrefixFrom(ownAddr, 32)}, []netip.Addr{peerAddr}, peerAddr,
			carp.ErrSource},
	}
	for _, base := range []config.Router{v3, v2, c} {
		for _, tt := range tests {
			r := base
			r.AcceptFrom, r.Peers = tt.accept, tt.peers
			enc, err := newEncoder(&r, newReplay(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			b, err := enc.encode(ads[r.Name], tt.src, group4)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := newDecoder(&r, newReplay(ownAddr))
			if err != nil {
				t.Fatal(err)
			}
			_, err = dec.decode(link.Packet{Src: tt.src, Dst: group4, TTL: 255, Payload: b})
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("%s %s: %v, want %v", r.Name, tt.name, err, tt.want)
			}
		}
	}
}

// TestEncodeReuse checks the VRRP encoder's reuse of its last
// advertisement: whatever sequence of adverts, sources and destinations it
// is given, each result is byte for byte what a fresh encoder makes of the
// same arguments, so a change of priority, interval, address or version is
// never sent with stale bytes.
func TestEncodeReuse(t *testing.T) {
	v3 := vrrpRouter("v7", 7, 100, "198.18.0.102/32")
	v2 := vrrpRouter("v6", 6, 100, "198.18.0.101/32")
	v2.Machine.Proto, v2.Machine.Interval, v2.Password = carp.ProtoVRRP2, time.Second, []byte("pw")
	// With the pseudo-header the checksum covers both addresses.
	v3p := vrrpRouter("v8", 8, 100, "198.18.0.103/32")
	v3p.V3PseudoHeader = true
	for _, r := range []config.Router{v3, v3p, v2} {
		ad := carp.Advert{Proto: r.Machine.Proto, ID: r.Machine.ID, Priority: 150, Interval: r.Machine.Interval}
		lower, slower := ad, ad
		lower.Priority = 149
		slower.Interval *= 2
		steps := []struct {
			ad       carp.Advert
			src, dst netip.Addr
		}{
			{ad, ownAddr, group4}, {ad, ownAddr, group4}, // reused
			{lower, ownAddr, group4}, {lower, ownAddr, group4},
			{ad, ownAddr, group4},
			{slower, ownAddr, group4},
			{ad, peerAddr, group4},                               // another source (an address change)
			{ad, peerAddr, strangerAddr}, {ad, peerAddr, group4}, // unicast peers in turn
		}
		enc, err := newEncoder(&r, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range steps {
			got, err := enc.encode(s.ad, s.src, s.dst)
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := newEncoder(&r, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.encode(s.ad, s.src, s.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s step %d (priority %d, interval %v, %v to %v): % x, a fresh encoder gives % x", r.Name, i,
					s.ad.Priority, s.ad.Interval, s.src, s.dst, got, want)
			}
		}
	}
}

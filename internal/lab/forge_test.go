//go:build linux

package lab

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/carpd/carpd/carp"
	"github.com/google/go-cmp/cmp"
)

var (
	forgeMaster   = netip.MustParseAddr("198.18.0.1")
	forgeAttacker = netip.MustParseAddr("198.18.0.200")
	forgeGroup    = netip.MustParseAddr("224.0.0.18")
	forgeVIP      = netip.MustParseAddr("198.18.0.40")
)

// TestForgeCARP: the rewritten fields are the ones asked for, the checksum
// is valid again and the HMAC of the captured advert still verifies, which
// is what makes the attack work against a receiver that checks only these.
func TestForgeCARP(t *testing.T) {
	auth, err := carp.NewAuth([]byte("s3cret"), 40, []netip.Addr{forgeVIP}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := carp.Header{Version: 2, Type: 1, VHID: 40, AdvSkew: 10, AuthLen: 7, AdvBase: 3, Counter: 42}
	auth.Sign(&h)
	wire, err := h.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	captured := Advert{Src: forgeMaster, Dst: forgeGroup, TTL: 255, Payload: wire}
	if !IsCARP(captured.Payload) {
		t.Fatalf("IsCARP(%x) = false", captured.Payload)
	}
	type fields struct{ Skew, Base uint8 }
	for _, tc := range []struct {
		c    Change
		want fields
	}{
		{Unchanged, fields{10, 3}},
		{Best, fields{0, 1}},
		{BowOut, fields{255, 255}},
	} {
		p, err := Forge(captured, forgeAttacker, tc.c)
		if err != nil {
			t.Fatalf("%v: %v", tc.c, err)
		}
		var got carp.Header
		if err := got.UnmarshalBinary(p); err != nil {
			t.Errorf("%v: decoding the forged advert: %v", tc.c, err)
			continue
		}
		if diff := cmp.Diff(tc.want, fields{got.AdvSkew, got.AdvBase}); diff != "" {
			t.Errorf("%v: timing (-want +got):\n%s", tc.c, diff)
		}
		if err := auth.Verify(&got); err != nil || got.Counter != 42 {
			t.Errorf("%v: HMAC %v, counter %d; want the captured ones", tc.c, err, got.Counter)
		}
	}
	if p, _ := Forge(captured, forgeAttacker, Unchanged); !bytes.Equal(p, captured.Payload) {
		t.Errorf("unchanged CARP replay\n %x, want\n %x", p, captured.Payload)
	}
}

// TestForgeVRRP: priority rewritten, the VRRPv2 password kept, and the
// checksum valid in the variant of the capture, for the attacker's source
// when the VRRPv3 checksum covers a pseudo-header.
func TestForgeVRRP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint8
		pseudo  bool
	}{
		{"v2 PASS", 2, false},
		{"v3 pseudo-header", 3, true},
		{"v3 RFC 9568", 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := carp.VRRP{Version: tc.version, Type: 1, VRID: 40, Priority: 150, AdvInt: 1,
				Addrs: []netip.Addr{forgeVIP}, Src: forgeMaster, Dst: forgeGroup}
			if tc.version == 2 {
				if err := v.SetPassword([]byte("pw")); err != nil {
					t.Fatal(err)
				}
			} else {
				v.AdvInt = 100
			}
			v.PseudoHeader = tc.pseudo
			wire, err := v.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			captured := Advert{Src: forgeMaster, Dst: forgeGroup, TTL: 255, Payload: wire}
			if IsCARP(wire) {
				t.Fatalf("IsCARP(%x) = true", wire)
			}
			for c, prio := range map[Change]uint8{Unchanged: 150, Best: 254, BowOut: 0} {
				p, err := Forge(captured, forgeAttacker, c)
				if err != nil {
					t.Fatalf("%v: %v", c, err)
				}
				var got carp.VRRP
				got.Src, got.Dst = forgeAttacker, forgeGroup
				if err := got.UnmarshalBinary(p); err != nil {
					t.Errorf("%v: decoding from the attacker's address: %v", c, err)
					continue
				}
				if got.Priority != prio || got.PseudoHeader != tc.pseudo || got.AuthData != v.AuthData {
					t.Errorf("%v: priority %d, pseudo-header %v, auth %q; want %d, %v, %q", c, got.Priority,
						got.PseudoHeader, got.AuthData, prio, tc.pseudo, v.AuthData)
				}
			}
			p, _ := Forge(captured, forgeAttacker, Unchanged)
			var fromMaster carp.VRRP
			fromMaster.Src, fromMaster.Dst = forgeMaster, forgeGroup
			err = fromMaster.UnmarshalBinary(p)
			if tc.pseudo && !errors.Is(err, carp.ErrChecksum) {
				t.Errorf("pseudo-header checksum not recomputed for the attacker's source: decoding as "+
					"from the master gave %v", err)
			}
			if !tc.pseudo && !bytes.Equal(p, wire) {
				t.Errorf("replay without pseudo-header\n %x, want the capture\n %x", p, wire)
			}
		})
	}
}

func TestParseConnects(t *testing.T) {
	log := "1700000000: mosquitto version 2.0.11 starting\n" +
		"1700000001: New connection from 198.18.0.2:40112 on port 1883.\n" +
		"1700000001: New client connected from 198.18.0.2:40112 as probe-n2 (p2, c1, k5, u'carpd').\n" +
		"1700000002: New client connected from 198.18.0.1:5000 as anon (p2, c1, k60).\n"
	want := []Connect{
		{From: "198.18.0.2:40112", ClientID: "probe-n2", Username: "carpd"},
		{From: "198.18.0.1:5000", ClientID: "anon"},
	}
	if diff := cmp.Diff(want, ParseConnects(log)); diff != "" {
		t.Errorf("ParseConnects (-want +got):\n%s", diff)
	}
}

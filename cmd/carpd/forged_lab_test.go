//go:build linux

package main

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/lab"
)

// sendFrom sends one protocol 112 payload from the lab's client to
// 224.0.0.18 with the given TTL.
func sendFrom(t *testing.T, l *lab.Lab, payload []byte, ttl int) {
	t.Helper()
	p, err := l.Client.Proto112(ttl)
	if err == nil {
		_, err = p.WriteTo(payload, nil, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)})
		p.Close()
	}
	if err != nil {
		t.Fatalf("sending from the client: %v", err)
	}
}

// carpAdvert builds a CARP advert signed with pass for vhid and vips.
func carpAdvert(t *testing.T, pass string, vhid, skew uint8, vips ...netip.Addr) []byte {
	t.Helper()
	a, err := carp.NewAuth([]byte(pass), vhid, vips, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := carp.Header{Version: 2, Type: 1, VHID: vhid, AdvSkew: skew, AuthLen: 7, AdvBase: 1, Counter: 42}
	a.Sign(&h)
	b, _ := h.MarshalBinary() // never fails for a Header
	return b
}

// TestLabForgedAdverts sends forged advertisements into the lab: each is
// counted under its reason, and the master stays master.
func TestLabForgedAdverts(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 1, lab.WithoutIPv6())
	n1 := l.Nodes[0]
	vip := netip.MustParseAddr("198.18.0.14")
	// advskew 100: a forged advert with advskew 0 and a valid HMAC would
	// win, so only the checks stand between it and a takeover.
	a := startCarpd(t, n1, "", carpArgs(n1, "14", "100", "s3cret", vip.String())...)
	a.waitState(t, "MASTER", 10*time.Second)
	before, err := a.status()
	if err != nil {
		t.Fatal(err)
	}

	good := carpAdvert(t, "s3cret", 14, 0, vip)
	sendFrom(t, l, carpAdvert(t, "guess", 14, 0, vip), 255)  // wrong HMAC
	sendFrom(t, l, good, 64)                                 // TTL 64
	sendFrom(t, l, carpAdvert(t, "s3cret", 99, 0, vip), 255) // no such vhid
	sendFrom(t, l, good[:20], 255)                           // truncated
	lab.Wait(t, 3*time.Second, "four drops counted", func() bool {
		st, err := a.status()
		d := st.Counters.Dropped
		return err == nil && d["auth"] == 1 && d["ttl"] == 1 && d["short"] == 1
	})
	resp := a.fullStatus(t)
	if got := resp.Sockets; len(got) != 1 || got[0].Dropped["vhid"] != 1 {
		t.Errorf("socket counters %+v, want one unknown vhid", got)
	}
	st, _ := a.status()
	if st.State != "MASTER" || st.Counters.Transitions != before.Counters.Transitions || st.Counters.Received != 0 {
		t.Errorf("after forged adverts: %s, %d transitions (was %d), %d accepted; want no change",
			st.State, st.Counters.Transitions, before.Counters.Transitions, st.Counters.Received)
	}
	if !n1.HasAddr(vip) {
		t.Errorf("master lost its VIP")
	}
	t.Logf("drops: router %v, socket %v", st.Counters.Dropped, resp.Sockets[0].Dropped)
}

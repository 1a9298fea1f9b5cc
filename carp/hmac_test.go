package carp

import (
	"crypto/hmac"
	"crypto/sha1"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/carpd/carpd/carp/internal/frametest"
	"github.com/google/go-cmp/cmp"
)

func addrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

func mustAuth(t testing.TB, pass string, vhid uint8, vips []netip.Addr, lladdr []byte) *Auth {
	t.Helper()
	a, err := NewAuth([]byte(pass), vhid, vips, lladdr)
	if err != nil {
		t.Fatalf("NewAuth(%q, %d, %v): %v", pass, vhid, vips, err)
	}
	return a
}

// TestAuthVectors uses two vectors: the first produced by
// ucarp's own code, the second by the Appendix A Python, and two more with
// IPv6 addresses from the same Python (carp_md(..., v6=...)).
func TestAuthVectors(t *testing.T) {
	tests := []struct {
		name    string
		pass    string
		vhid    uint8
		vips    []netip.Addr
		counter uint64
		md      string
	}{
		{"ucarp", "mypassword", 1, addrs("10.1.1.252"), 0x0123456789abcdef, "b0c95ba597ba42bcf424d715b1a4eba2db3958f9"},
		{"two vips", "secret", 42, addrs("192.168.1.10", "192.168.1.9"), 1, "f28890bdfdb2e9e5d7e1e5ce68d82429b5fb9bde"},
		{"two vips reversed", "secret", 42, addrs("192.168.1.9", "192.168.1.10"), 1, "f28890bdfdb2e9e5d7e1e5ce68d82429b5fb9bde"},
		// Python: carp_md("secret", 7, ["198.18.0.10"], ["2001:2::10"], counter=5)
		{"v4 and v6", "secret", 7, addrs("2001:2::10", "198.18.0.10"), 5, "7a859a7103140d7a2abcfe2d4ae89ea9b6c24791"},
		// Sent without the link-local: the same MD as above.
		{"v6 link-local not sent", "secret", 7, addrs("fe80::1%eth0", "2001:2::10", "198.18.0.10"), 5, "7a859a7103140d7a2abcfe2d4ae89ea9b6c24791"},
		// 0.0.0.0, 255.255.255.255, :: and duplicates are never hashed.
		{"edge addresses", "secret", 42, addrs("0.0.0.0", "192.168.1.9", "255.255.255.255", "::", "192.168.1.10", "::ffff:192.168.1.9"), 1, "f28890bdfdb2e9e5d7e1e5ce68d82429b5fb9bde"},
	}
	for _, tt := range tests {
		a := mustAuth(t, tt.pass, tt.vhid, tt.vips, nil)
		h := Header{Version: 2, Type: 1, VHID: tt.vhid, AuthLen: 7, AdvBase: 1, Counter: tt.counter}
		a.Sign(&h)
		if diff := cmp.Diff(frametest.Unhex(t, tt.md), h.MD[:]); diff != "" {
			t.Errorf("%s: MD (-want +got):\n%s", tt.name, diff)
		}
		if err := a.Verify(&h); err != nil {
			t.Errorf("%s: Verify of own signature: %v", tt.name, err)
		}
	}
}

// TestAuthSignVector1 checks the full vector1 header: Sign then AppendBinary.
func TestAuthSignVector1(t *testing.T) {
	a := mustAuth(t, "mypassword", 1, addrs("10.1.1.252"), nil)
	h := Header{Version: 2, Type: 1, VHID: 1, AuthLen: 7, AdvBase: 1, Counter: 0x0123456789abcdef}
	a.Sign(&h)
	if diff := cmp.Diff(frametest.Unhex(t, vector1), mustAppend(t, &h)); diff != "" {
		t.Errorf("signed header (-want +got):\n%s", diff)
	}
}

func TestAuthVerifyRejects(t *testing.T) {
	a := mustAuth(t, "mypassword", 1, addrs("10.1.1.252"), nil)
	good := vector1Header(t)
	tests := []struct {
		name string
		auth *Auth
		mod  func(h *Header)
	}{
		{"md bit", a, func(h *Header) { h.MD[19] ^= 1 }},
		{"counter", a, func(h *Header) { h.Counter++ }},
		{"other password", mustAuth(t, "mypassworD", 1, addrs("10.1.1.252"), nil), nil},
		{"other vhid", mustAuth(t, "mypassword", 2, addrs("10.1.1.252"), nil), nil},
		{"other vip", mustAuth(t, "mypassword", 1, addrs("10.1.1.253"), nil), nil},
		{"extra vip", mustAuth(t, "mypassword", 1, addrs("10.1.1.252", "10.1.1.1"), nil), nil},
		{"lladdr", mustAuth(t, "mypassword", 1, addrs("10.1.1.252"), []byte{2, 0, 0, 0, 0, 1}), nil},
	}
	for _, tt := range tests {
		h := good
		if tt.mod != nil {
			tt.mod(&h)
		}
		if err := tt.auth.Verify(&h); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: Verify = %v, want ErrAuth", tt.name, err)
		}
	}
}

// TestAuthKeyLength: 19 bytes is the most any implementation hashes in
// full; at 20 ucarp refuses and BSD truncates, and NewAuth refuses.
func TestAuthKeyLength(t *testing.T) {
	pass19 := strings.Repeat("k", 19)
	a, err := NewAuth([]byte(pass19), 1, addrs("10.1.1.252"), nil)
	if err != nil {
		t.Fatalf("NewAuth with 19 bytes: %v", err)
	}
	if _, err := NewAuth([]byte(pass19+"x"), 1, addrs("10.1.1.252"), nil); !errors.Is(err, ErrKeyLength) {
		t.Errorf("NewAuth with 20 bytes: error %v, want ErrKeyLength", err)
	}
	// A BSD peer configured with the 20-byte passphrase keys with its
	// first 19 bytes, which is what we accept.
	h := Header{Counter: 9}
	h.MD = [20]byte(refHMAC(t, []byte(pass19), []byte{2, 1, 1, 10, 1, 1, 252, 0, 0, 0, 0, 0, 0, 0, 9}))
	if err := a.Verify(&h); err != nil {
		t.Errorf("Verify of a BSD-truncated 20-byte key: %v", err)
	}
	// The passphrase ends at a NUL, as strlen/strlcpy make it.
	b, err := NewAuth([]byte(pass19+"\x00tail that is long"), 1, addrs("10.1.1.252"), nil)
	if err != nil {
		t.Fatalf("NewAuth with NUL: %v", err)
	}
	if err := b.Verify(&h); err != nil {
		t.Errorf("Verify with a NUL-terminated passphrase: %v", err)
	}
}

// refHMAC is the textbook HMAC-SHA1 through a fresh crypto/hmac, to check
// Auth's message layout independently of its prefix caching.
func refHMAC(t testing.TB, key, msg []byte) []byte {
	t.Helper()
	m := hmac.New(sha1.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// TestAuthEmptyPass: no passphrase is BSD's key of 20 zero bytes.
func TestAuthEmptyPass(t *testing.T) {
	a := mustAuth(t, "", 3, addrs("198.18.0.3"), nil)
	h := Header{Counter: 1}
	h.MD = [20]byte(refHMAC(t, make([]byte, 20), []byte{2, 1, 3, 198, 18, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1}))
	if err := a.Verify(&h); err != nil {
		t.Errorf("Verify with zero key: %v", err)
	}
}

// TestAuthLinkLocalVariants: OpenBSD signs without IPv6 link-locals
// (HMAC_NOV6LL) and accepts both variants; so do we. The link-local's scope
// bytes 2-3 are zeroed and its zone dropped before hashing.
func TestAuthLinkLocalVariants(t *testing.T) {
	vips := addrs("198.18.0.10", "2001:2::10", "fe80::1%eth0")
	a := mustAuth(t, "secret", 7, vips, nil)
	// Python: carp_md("secret", 7, ["198.18.0.10"], ["2001:2::10", "fe80::1"], counter=5)
	orig := Header{Counter: 5, MD: [20]byte(frametest.Unhex(t, "7227ed479416d638609fa2b87ac057dc397774b2"))}
	if err := a.Verify(&orig); err != nil {
		t.Errorf("Verify of the ORIG (with link-local) variant: %v", err)
	}
	nov6ll := Header{Counter: 5}
	a.Sign(&nov6ll)
	if diff := cmp.Diff(frametest.Unhex(t, "7a859a7103140d7a2abcfe2d4ae89ea9b6c24791"), nov6ll.MD[:]); diff != "" {
		t.Errorf("Sign is not the NOV6LL variant (-want +got):\n%s", diff)
	}
	// A peer that knows no link-local verifies what we sign.
	if err := mustAuth(t, "secret", 7, addrs("198.18.0.10", "2001:2::10"), nil).Verify(&nov6ll); err != nil {
		t.Errorf("peer without link-local: Verify = %v", err)
	}
	// Scope bytes set inside the address (KAME embedding) are zeroed too.
	scoped := mustAuth(t, "secret", 7, addrs("198.18.0.10", "2001:2::10", "fe80:2::1"), nil)
	if err := scoped.Verify(&orig); err != nil {
		t.Errorf("Verify with embedded scope: %v", err)
	}
}

func TestAuthLLAddr(t *testing.T) {
	ll := []byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	a := mustAuth(t, "pw", 4, addrs("198.18.0.4"), ll)
	msg := append(append([]byte{2, 1}, ll...), 4, 198, 18, 0, 4, 0, 0, 0, 0, 0, 0, 0, 77)
	h := Header{Counter: 77}
	h.MD = [20]byte(refHMAC(t, []byte("pw"), msg))
	if err := a.Verify(&h); err != nil {
		t.Errorf("Verify with lladdr: %v", err)
	}
	if _, err := NewAuth(nil, 4, nil, ll[:5]); err == nil {
		t.Error("NewAuth accepted a 5-byte lladdr")
	}
}

func TestAuthInvalidAddr(t *testing.T) {
	if _, err := NewAuth(nil, 1, []netip.Addr{{}}, nil); err == nil {
		t.Error("NewAuth accepted the zero netip.Addr")
	}
}

func TestAuthNoAllocs(t *testing.T) {
	a := mustAuth(t, "secret", 7, addrs("198.18.0.10", "2001:2::10", "fe80::1"), nil)
	h := Header{Counter: 5}
	if n := testing.AllocsPerRun(100, func() { a.Sign(&h) }); n != 0 {
		t.Errorf("Sign allocates %v times", n)
	}
	h.MD[0] ^= 1 // force both variants to be tried
	if n := testing.AllocsPerRun(100, func() { _ = a.Verify(&h) }); n != 0 {
		t.Errorf("Verify allocates %v times", n)
	}
}

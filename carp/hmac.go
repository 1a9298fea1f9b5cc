package carp

import (
	"bytes"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"slices"
)

// maxKeyLen is the longest passphrase every CARP implementation hashes in
// full: the kernels keep a 20-byte key including the terminating NUL
// (OpenBSD/FreeBSD CARP_KEY_LEN), and ucarp refuses anything longer.
const maxKeyLen = 19

// Auth signs and verifies the HMAC-SHA1 of one CARP virtual router, exactly
// as OpenBSD ip_carp.c carp_hmac_prepare builds it (docs/protocol.md §2.1):
// HMAC-SHA1 keyed with the passphrase over
// 0x02 0x01 [lladdr] vhid IPv4-VIPs IPv6-VIPs counter.
//
// The message up to the counter is fixed per virtual router and is built
// once by NewAuth; Sign and Verify only hash it plus the packet's counter
// and allocate nothing. An Auth holds that hash state, so it is not safe for
// concurrent use: give each goroutine its own, or serialise calls.
type Auth struct {
	mac hash.Hash
	// nov6ll is the message prefix without IPv6 link-local addresses
	// (OpenBSD HMAC_NOV6LL, what OpenBSD sends); orig includes them
	// (HMAC_ORIG). orig is nil when there are no link-locals to differ.
	nov6ll, orig []byte
	ctr          [8]byte
	sum          [sha1.Size]byte
}

// NewAuth prepares the HMAC of virtual router vhid over addrs.
//
// pass is the passphrase as typed. OpenBSD and FreeBSD ifconfig silently
// truncate it to 19 bytes, ucarp refuses longer ones; NewAuth refuses too,
// returning ErrKeyLength, because a silently shortened secret surprises the
// operator and ucarp peers could not use it anyway. Like the C code (strlcpy,
// strlen) a passphrase ends at its first NUL byte. An empty pass is BSD's
// "no pass": a key of zero bytes.
//
// addrs are the virtual addresses of the vhid, IPv4 and IPv6 mixed, in any
// order. They are hashed as the BSD kernels' sort loops in carp_hmac_prepare do:
// IPv4 numerically ascending, then IPv6 by memcmp with the scope bytes 2-3
// of link-local addresses zeroed; duplicates count once and 0.0.0.0,
// 255.255.255.255 and :: are never hashed. A zone is dropped, since the
// scope is not part of the hashed bytes. IPv4-mapped IPv6 addresses are
// treated as IPv4.
//
// lladdr is nil except to interoperate with an OpenBSD carp interface whose
// lladdr was set by hand to something other than the parent's MAC or
// 00:00:5e:00:01:vhid (OpenBSD ip_carp.c hashes it then); it must be 6
// bytes.
func NewAuth(pass []byte, vhid uint8, addrs []netip.Addr, lladdr []byte) (*Auth, error) {
	if i := bytes.IndexByte(pass, 0); i >= 0 {
		pass = pass[:i]
	}
	if len(pass) > maxKeyLen {
		return nil, fmt.Errorf("carp passphrase of %d bytes, at most %d allowed: %w", len(pass), maxKeyLen, ErrKeyLength)
	}
	if lladdr != nil && len(lladdr) != 6 {
		return nil, fmt.Errorf("carp lladdr of %d bytes, want 6", len(lladdr))
	}
	v4, v6, err := hashedAddrs(addrs)
	if err != nil {
		return nil, err
	}

	if fips140.Enforced() {
		// crypto/hmac would panic: FIPS 140-only mode forbids SHA-1 HMAC
		// and keys under 14 bytes, and CARP's wire format needs both.
		return nil, errors.New("carp HMAC-SHA1 is not allowed in FIPS 140-only mode (GODEBUG=fips140=only)")
	}
	// Trailing zero bytes of an HMAC key are equivalent to the zero padding
	// HMAC applies anyway, so keying with the passphrase bytes equals the
	// kernels' NUL-padded 20-byte key (OpenBSD ip_carp.c carp_hmac_prepare;
	// TestAuthVectors checks it against ucarp's digests).
	// hmac.New keeps its own copy of the key.
	a := &Auth{mac: hmac.New(sha1.New, pass)}
	a.nov6ll = appendPrefix(nil, vhid, lladdr, v4, v6, false)
	if slices.ContainsFunc(v6, scopeEmbedded) {
		a.orig = appendPrefix(nil, vhid, lladdr, v4, v6, true)
	}
	return a, nil
}

// hashedAddrs splits addrs by family and sorts, deduplicates and filters
// them as NewAuth describes. IPv6 addresses come back with the
// link-local scope bytes already zeroed.
func hashedAddrs(addrs []netip.Addr) (v4, v6 [][16]byte, err error) {
	for i, a := range addrs {
		if !a.IsValid() {
			return nil, nil, fmt.Errorf("carp address %d is not valid", i)
		}
		a = a.Unmap().WithZone("")
		b := a.As16()
		if a.Is4() {
			// OpenBSD carp_hmac_prepare_ctx: the selection loop starts at 0
			// and compares strictly against 0xffffffff, so neither address
			// can ever be picked.
			if a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				continue
			}
			v4 = append(v4, b)
			continue
		}
		if a.IsUnspecified() {
			continue
		}
		if scopeEmbedded(b) {
			b[2], b[3] = 0, 0
		}
		v6 = append(v6, b)
	}
	// An IPv4-mapped [16]byte orders like its IPv4 address, so one memcmp
	// sort serves both families.
	for _, s := range []*[][16]byte{&v4, &v6} {
		slices.SortFunc(*s, func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
		*s = slices.Compact(*s)
	}
	return v4, v6, nil
}

// scopeEmbedded mirrors the KAME IN6_IS_SCOPE_EMBED test the BSD kernels use
// to decide which IPv6 addresses carry a scope in bytes 2-3 and count as
// "link-local" for HMAC_NOV6LL: link-local unicast, and interface- and
// link-local multicast.
func scopeEmbedded(b [16]byte) bool {
	a := netip.AddrFrom16(b)
	return a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast()
}

// appendPrefix appends the HMAC message up to, not including, the counter.
func appendPrefix(b []byte, vhid uint8, lladdr []byte, v4, v6 [][16]byte, withLL bool) []byte {
	// OpenBSD carp_hmac_prepare: version and type are two separate
	// bytes, not the packed 0x21 of the header.
	b = append(b, carpVersion, carpAdvert)
	b = append(b, lladdr...)
	b = append(b, vhid)
	for _, a := range v4 {
		b = append(b, a[12:]...)
	}
	for _, a := range v6 {
		if !withLL && scopeEmbedded(a) {
			continue
		}
		b = append(b, a[:]...)
	}
	return b
}

// Sign sets h.MD to the HMAC over the prefix and h.Counter, in the variant
// without IPv6 link-locals that OpenBSD sends (carp_prepare_ad uses
// HMAC_NOV6LL). Encode h afterwards: the checksum covers the MD.
func (a *Auth) Sign(h *Header) {
	h.MD = *a.compute(a.nov6ll, h.Counter)
}

// Verify returns nil if h.MD is the HMAC of this virtual router for
// h.Counter, else ErrAuth. Like OpenBSD carp_hmac_verify it accepts both the
// variant without and the one with IPv6 link-local addresses. The
// comparison is constant-time. Counters are not judged: no implementation
// has replay protection (docs/protocol.md §2.2; carpd's own counter is
// judged by ReplayWindow, §2.3); loop detection is the caller's.
func (a *Auth) Verify(h *Header) error {
	if hmac.Equal(a.compute(a.nov6ll, h.Counter)[:], h.MD[:]) {
		return nil
	}
	if a.orig != nil && hmac.Equal(a.compute(a.orig, h.Counter)[:], h.MD[:]) {
		return nil
	}
	return ErrAuth
}

// compute returns the HMAC of prefix and counter in a buffer owned by a,
// valid until the next call.
func (a *Auth) compute(prefix []byte, counter uint64) *[sha1.Size]byte {
	a.mac.Reset()
	a.mac.Write(prefix)
	binary.BigEndian.PutUint64(a.ctr[:], counter)
	a.mac.Write(a.ctr[:])
	a.mac.Sum(a.sum[:0])
	return &a.sum
}

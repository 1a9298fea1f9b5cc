//go:build linux

package nat

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// TestDiagReq checks the SOCK_DESTROY request against struct
// inet_diag_req_v2 (include/uapi/linux/inet_diag.h) byte by byte, for an
// IPv6 socket (family 10) and an IPv4 one (family 2, addresses in the
// first 4 bytes of their 16), on a little-endian host: family, protocol
// 6, ext and pad 0, states 0, ports in network order, source, destination,
// interface 0, cookie all ones.
func TestDiagReq(t *testing.T) {
	tests := []struct {
		local, remote string
		want          string
	}{
		{"[2001:2::1]:1883", "[2001:2::200]:40000",
			"0a060000" + "00000000" + "075b" + "9c40" +
				"20010002000000000000000000000001" + "20010002000000000000000000000200" +
				"00000000" + "ffffffff" + "ffffffff"},
		{"198.18.0.1:1883", "198.18.0.200:40000",
			"02060000" + "00000000" + "075b" + "9c40" +
				"c6120001000000000000000000000000" + "c61200c8000000000000000000000000" +
				"00000000" + "ffffffff" + "ffffffff"},
	}
	for _, tt := range tests {
		r := diagReq{local: netip.MustParseAddrPort(tt.local), remote: netip.MustParseAddrPort(tt.remote)}
		b := r.Serialize()
		if got := hex.EncodeToString(b); got != tt.want || r.Len() != len(b) {
			t.Errorf("%s → %s:\n got %s (Len %d)\nwant %s", tt.local, tt.remote, got, r.Len(), tt.want)
		}
	}
}

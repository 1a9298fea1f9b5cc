package nat

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ruleCmp compares rules with ==: netip types have unexported fields.
var ruleCmp = cmp.Comparer(func(a, b Rule) bool { return a == b })

func rule(vip string, port uint16, to string) Rule {
	return Rule{VIP: netip.MustParseAddr(vip), Port: port, To: netip.MustParseAddrPort(to)}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name           string
		in             []Rule
		wantV4, wantV6 []Rule
		wantErr        bool
	}{
		{
			name: "sorted by VIP then port, families apart",
			in: []Rule{
				rule("198.18.0.101", 1883, "198.18.0.1:1883"),
				rule("2001:2::100", 1883, "[2001:2::1]:1883"),
				rule("198.18.0.100", 9001, "198.18.0.1:9001"),
				rule("198.18.0.100", 1883, "198.18.0.1:1883"),
				rule("198.18.0.100", 8883, "198.18.0.1:8883"),
			},
			wantV4: []Rule{
				rule("198.18.0.100", 1883, "198.18.0.1:1883"),
				rule("198.18.0.100", 8883, "198.18.0.1:8883"),
				rule("198.18.0.100", 9001, "198.18.0.1:9001"),
				rule("198.18.0.101", 1883, "198.18.0.1:1883"),
			},
			wantV6: []Rule{rule("2001:2::100", 1883, "[2001:2::1]:1883")},
		},
		{
			name:   "IPv4-mapped addresses are IPv4",
			in:     []Rule{rule("::ffff:198.18.0.100", 1883, "[::ffff:198.18.0.1]:1883")},
			wantV4: []Rule{rule("198.18.0.100", 1883, "198.18.0.1:1883")},
		},
		{name: "port to another port", in: []Rule{rule("198.18.0.100", 1883, "198.18.0.1:11883")},
			wantV4: []Rule{rule("198.18.0.100", 1883, "198.18.0.1:11883")}},
		{name: "empty"},
		{name: "mixed families", in: []Rule{rule("198.18.0.100", 1883, "[2001:2::1]:1883")}, wantErr: true},
		{name: "no VIP", in: []Rule{{Port: 1883, To: netip.MustParseAddrPort("198.18.0.1:1883")}}, wantErr: true},
		{name: "no target", in: []Rule{{VIP: netip.MustParseAddr("198.18.0.100"), Port: 1883}}, wantErr: true},
		{name: "port 0", in: []Rule{rule("198.18.0.100", 0, "198.18.0.1:1883")}, wantErr: true},
		{name: "target port 0", in: []Rule{rule("198.18.0.100", 1883, "198.18.0.1:0")}, wantErr: true},
		{name: "zone", in: []Rule{rule("fe80::1%eth0", 1883, "[fe80::2]:1883")}, wantErr: true},
		{
			name: "same VIP and port twice",
			in: []Rule{
				rule("198.18.0.100", 1883, "198.18.0.1:1883"),
				rule("198.18.0.100", 1883, "198.18.0.2:1883"),
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6, err := split(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidRule) {
					t.Fatalf("split: error %v, want ErrInvalidRule", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("split: %v", err)
			}
			if diff := cmp.Diff(tt.wantV4, v4, ruleCmp); diff != "" {
				t.Errorf("IPv4 rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantV6, v6, ruleCmp); diff != "" {
				t.Errorf("IPv6 rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTag(t *testing.T) {
	for _, tt := range []struct {
		r    Rule
		want string
	}{
		{rule("198.18.0.100", 1883, "198.18.0.1:1883"), "carpd:198.18.0.100:1883"},
		{rule("2001:2::100", 8883, "[2001:2::1]:8883"), "carpd:[2001:2::100]:8883"},
	} {
		if got := tt.r.tag(); got != tt.want {
			t.Errorf("%v.tag() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

package mosquitto

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestBridgeStateBounded feeds the $SYS bridge handler what a rogue peer
// broker can publish: 10 000 distinct connection topics, then long ones.
// The probe keeps at most MaxBridgeState entries, counts the rest, keeps
// updating the entries it holds, and logs the refusal once.
func TestBridgeStateBounded(t *testing.T) {
	var logs bytes.Buffer
	p, err := NewProbe(ProbeConfig{Node: "n1", PeerNode: "n2", Local: Broker{Addr: "198.18.0.1:1883"},
		Peer: Broker{Addr: "198.18.0.2:1883"}, Prefix: "home/p",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	peer := p.sysHandler("peer")
	const flood = 10000
	for i := range flood {
		peer(message{topic: fmt.Sprintf("$SYS/broker/connection/c%d/state", i), payload: "1"})
	}
	long := strings.Repeat("x", MaxBridgeLen+1)
	peer(message{topic: "$SYS/broker/connection/c0/state", payload: long})
	peer(message{topic: "$SYS/broker/connection/" + long + "/state", payload: "1"})
	peer(message{topic: "$SYS/broker/connection/c1/state", payload: "0"})

	st := p.Status()
	if len(st.BridgeState) != MaxBridgeState {
		t.Errorf("%d bridge state entries, want the cap %d", len(st.BridgeState), MaxBridgeState)
	}
	if want := uint64(flood - MaxBridgeState + 2); st.BridgeRefused != want {
		t.Errorf("refused %d, want %d", st.BridgeRefused, want)
	}
	for k, v := range st.BridgeState {
		if len(k) > MaxBridgeLen+len("peer ") || len(v) > MaxBridgeLen {
			t.Errorf("entry %q = %q is over %d bytes", k, v, MaxBridgeLen)
		}
	}
	if got := st.BridgeState["peer $SYS/broker/connection/c1/state"]; got != "0" {
		t.Errorf("held entry updated to %q, want 0", got)
	}
	if n := strings.Count(logs.String(), "refused"); n != 1 {
		t.Errorf("%d refusal log lines, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), `msg="bridge state notification"`); n != MaxBridgeState+1 {
		t.Errorf("%d notification log lines, want %d (the held entries and one change)", n, MaxBridgeState+1)
	}
}

// TestTruncate cuts long errors on a rune boundary.
func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789", 10, "0123456789"},
		{"0123456789a", 10, "0123456..."},
		{"012345é789a", 10, "012345..."},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want || len(got) > tt.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

//go:build linux

package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// TestInspectLiveUcarp captures a real ucarp's advertisements live from the
// lab's client namespace and checks the HMAC with the right password: the
// live path (AF_PACKET, no libpcap) sees what the wire carries.
func TestInspectLiveUcarp(t *testing.T) {
	ucarp, err := exec.LookPath("ucarp")
	if err != nil {
		t.Skip("ucarp is not installed (scripts/test.sh installs it)")
	}
	l := lab.New(t, 1)
	n := l.Nodes[0]
	n.Start(t, ucarp, "-i", n.Iface, "-s", n.IP4.Addr().String(), "-v", "10", "-p", "s3cretpw",
		"-a", "198.18.0.10", "-b", "1", "-k", "0", "-u", "/bin/true", "-d", "/bin/true")

	var out bytes.Buffer
	in := New(Options{Pass: []byte("s3cretpw"), CheckPass: true})
	enc := json.NewEncoder(&out)
	// ucarp claims after its 3 s master-down, then advertises every second:
	// 3 packets arrive within ~6 s; 20 s is the bound on a loaded machine.
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = l.Client.Do(func() error {
		return in.Live(ctx, l.Client.Iface, 3, func(r Record) error { return enc.Encode(r) })
	})
	if err != nil {
		t.Fatalf("live inspect: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	t.Logf("%d advertisements in %v", len(lines), time.Since(start).Round(time.Millisecond))
	if len(lines) != 3 {
		t.Fatalf("got %d records, want 3: %q", len(lines), out.String())
	}
	for _, line := range lines {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if r.Proto != "carp" || r.ID != 10 || r.Src != n.IP4.Addr().String() || r.TTL != 255 ||
			!r.ChecksumOK || r.Auth != "ok" || len(r.VIPs) != 1 || r.VIPs[0] != "198.18.0.10" {
			t.Errorf("record %+v: want carp vhid 10 from %v, TTL 255, checksum and HMAC ok for 198.18.0.10", r, n.IP4.Addr())
		}
	}
}

//go:build linux

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// TestLabDNATRestored deletes carpd's DNAT table on the master behind its
// back, as `nft delete table ip carpd` and a firewall reload's `nft flush
// ruleset` do: carpd puts the rules back within its check interval (1 s),
// logs it, and the client's MQTT stream through the VIP resumes.
func TestLabDNATRestored(t *testing.T) {
	l, vip, nodes := newBrokerLab(t, brokerSetup{vrid: 63})
	n1 := nodes[0]
	s := startStream(t, l.Client, vip.String()+":1883")
	for i, cmd := range [][]string{{"nft", "delete", "table", "ip", "carpd"}, {"nft", "flush", "ruleset"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n1.n.Run(ctx, cmd...)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// The check runs every second; a loaded machine may add to it.
		const bound = time.Second + 2*time.Second
		lab.Wait(t, bound, "DNAT restored after "+strings.Join(cmd, " "), func() bool {
			return len(dnatRules(t, n1.n)) > 0
		})
		t.Logf("%s: DNAT restored after %v", strings.Join(cmd, " "), time.Since(start).Round(time.Millisecond))
		wantDNAT(t, n1.n, vip, true)
		s.waitResumed(t, 10*time.Second)
		lab.Wait(t, 5*time.Second, "the restore logged", func() bool {
			return strings.Count(readLog(t, n1.carpd), "DNAT table changed behind carpd's back; restored") == i+1
		})
	}
}

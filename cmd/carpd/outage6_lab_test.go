//go:build linux

package main

import (
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/mqttstream"
)

// outageBeforeEnv names a carpd binary of another build (main before the
// IPv6 claim watch and client reset) that TestLabClientOutage6 measures
// too, trial for trial with this one, without checking its bound.
const outageBeforeEnv = "CARPD_OUTAGE_BEFORE"

// TestLabClientOutage6 measures a planned handover (SIGTERM of n1's
// carpd) of an IPv6-only router, as TestLabClientOutage does for IPv4: an
// MQTT publisher and subscriber on the IPv6 VIP, DNATed to the brokers'
// static IPv6 addresses. n1 keeps the VIP until n2's unsolicited NA
// (await-claim) and only then resets its clients (client-reset), who
// reconnect to n2 at once. Letting go at once instead, as carpd did for
// IPv6 before, leaves the clients' neighbour caches on n1, which no longer
// answers for the VIP: their connections break and their reconnects go
// into the void until the connect timeout. The test checks the outage
// against a bound from the timers and that n1 saw the claim and reset the
// clients. With CARPD_OUTAGE_TRIALS it runs that many trials and logs the
// median and range; with CARPD_OUTAGE_BEFORE, the same for that binary,
// alternating.
func TestLabClientOutage6(t *testing.T) {
	needBrokerLab(t)
	trials := 1
	if v := os.Getenv(outageTrialsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", outageTrialsEnv, v)
		}
		trials = n
	}
	before := os.Getenv(outageBeforeEnv)
	var after, old []time.Duration
	for i := range trials {
		t.Run("trial"+strconv.Itoa(i+1), func(t *testing.T) {
			after = append(after, outageTrial6(t, "", 60+i))
		})
		if before != "" {
			t.Run("before"+strconv.Itoa(i+1), func(t *testing.T) {
				old = append(old, outageTrial6(t, before, 60+i))
			})
		}
	}
	summary := func(name string, gaps []time.Duration) {
		if len(gaps) == 0 {
			return
		}
		slices.Sort(gaps)
		t.Logf("%s: client outage median %v, range %v … %v over %d trials, all %v", name,
			gaps[len(gaps)/2].Round(time.Millisecond), gaps[0].Round(time.Millisecond),
			gaps[len(gaps)-1].Round(time.Millisecond), len(gaps), gaps)
	}
	summary("this build", after)
	summary(before, old)
}

// outageTrial6 runs one planned handover with the carpd binary bin (empty:
// this test binary, whose bound it checks) and returns the longest gap
// in the subscriber's arrivals.
func outageTrial6(t *testing.T, bin string, vrid int) time.Duration {
	l, vip, nodes := newBrokerLab(t, brokerSetup{vrid: vrid, ipv6: true, bin: bin})
	n1, n2 := nodes[0], nodes[1]
	wantDNAT(t, n1.n, vip, true)
	wantDNAT(t, n2.n, vip, false)
	var mu sync.Mutex
	var events []mqttstream.Event
	ms, err := mqttstream.Start(mqttstream.Config{Addr: netip.AddrPortFrom(vip, 1883).String(), Dial: labDialer(l.Client),
		OnEvent: func(e mqttstream.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Stop(0) })
	s := stream{ms}
	lab.Wait(t, 5*time.Second, "stream flowing", func() bool { return s.Received() >= 20 })
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := n1.carpd.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n2.carpd.waitState(t, "MASTER", 5*time.Second)
	// n2 takes over one skew time after n1's priority-0 advert, promotes
	// (DNAT, its broker fresh: no restart) and announces; n1 sees the NA
	// and resets its clients, who reconnect to n2 within a retry or two.
	// Slack: 1 s, for the promotion's steps among them.
	skew := 156 * brokerAdvert / 256
	bound := skew + 2*clientRetry + time.Second
	s.waitResumed(t, clientKeepalive+clientPingWait+bound+5*time.Second)
	res := s.finish()
	t.Logf("IPv6 term (%s): longest gap %v (ended %v after the SIGTERM), sent %d, received %d, lost %d, duplicates %d; bound %v",
		map[bool]string{true: "this build", false: bin}[bin == ""], res.Gap.Round(time.Millisecond),
		res.GapEnd.Sub(start).Round(time.Millisecond), res.Sent, res.Received, res.Lost, res.Dups, bound)
	mu.Lock()
	for _, e := range events {
		if e.At.After(start) {
			t.Logf("client: %v after the SIGTERM: %v", e.At.Sub(start).Round(time.Millisecond), e)
		}
	}
	mu.Unlock()
	// The last of each: the shutdown's demotion.
	var claim, reset string
	for _, line := range strings.Split(readLog(t, n1.carpd), "\n") {
		switch {
		case strings.Contains(line, `"msg":"new master's claim"`):
			claim = line
		case strings.Contains(line, `"msg":"client connections reset"`):
			reset = line
		}
	}
	t.Logf("n1: %s", claim)
	t.Logf("n1: %s", reset)
	if bin != "" {
		return res.Gap
	}
	if res.Gap > bound {
		t.Errorf("client outage %v, want at most %v", res.Gap, bound)
	}
	wantDNAT(t, n2.n, vip, true)
	if !strings.Contains(claim, `"seen":true`) {
		t.Errorf("n1 did not see n2's claim of the IPv6 VIP: %q", claim)
	}
	if reset == "" {
		t.Errorf("n1 reset no client connection through the IPv6 VIP")
	}
	return res.Gap
}

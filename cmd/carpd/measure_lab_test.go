//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"golang.org/x/net/ipv4"
)

const (
	// measureTrialsEnv opts in to TestMeasureTakeover and gives the
	// number of trials per system and fault.
	measureTrialsEnv = "CARPD_MEASURE_TRIALS"
	// measureOutEnv, when set, names the file the Markdown table goes to.
	measureOutEnv = "CARPD_MEASURE_OUT"

	measureVIP = "198.18.0.30"
	measureID  = "30"
	// probeEvery is the client's ARP probe period; each probe waits as
	// long for its answer, so a silent VIP does not stretch the period.
	probeEvery = 10 * time.Millisecond
	// takeoverLimit bounds the wait for the backup after a fault: the
	// slowest expected takeover is VRRP's master-down, 3.61 s.
	takeoverLimit = 10 * time.Second
	// settleAfter is how long probing goes on after the takeover, to see
	// the VIP flap back or a second claim.
	settleAfter = time.Second
)

// speaker is one side of a measured pair.
type speaker struct {
	proc *lab.Proc
	// masterEntries counts how often the speaker has entered MASTER so
	// far, from its log or its up hook.
	masterEntries func() int
}

// measuredSystem is one implementation under test. start runs it on n at
// advbase/advert_int 1 s, as the preferred master (advskew 0, priority
// 150) or as the backup (advskew 50, priority 100).
type measuredSystem struct {
	name  string
	start func(t *testing.T, n *lab.Node, master bool) speaker
}

// measuredFault is a way for the master to go. inject is called right
// after the clock starts.
type measuredFault struct {
	name   string
	inject func(t *testing.T, n *lab.Node, p *lab.Proc)
}

func measuredSystems() []measuredSystem {
	return []measuredSystem{
		{"carpd CARP", startMeasuredCarpd("carp")},
		{"carpd VRRPv3", startMeasuredCarpd("vrrp3")},
		{"ucarp", startMeasuredUcarp},
		{"keepalived VRRPv2", startMeasuredKeepalived(2)},
		{"keepalived VRRPv3", startMeasuredKeepalived(3)},
	}
}

func measuredFaults() []measuredFault {
	return []measuredFault{
		// The link goes first: whatever the dying daemon (or a child
		// that outlives it, like keepalived's VRRP process) sends after
		// that never reaches the segment, as when a node loses power.
		{"kill", func(t *testing.T, n *lab.Node, p *lab.Proc) {
			n.LinkDown()
			if err := p.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killNamespace(t, n)
		}},
		{"term", func(t *testing.T, _ *lab.Node, p *lab.Proc) {
			if err := p.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

func startMeasuredCarpd(proto string) func(*testing.T, *lab.Node, bool) speaker {
	return func(t *testing.T, n *lab.Node, master bool) speaker {
		t.Helper()
		var args []string
		if proto == "carp" {
			args = carpArgs(n, measureID, pick(master, "0", "50"), "s3cret", measureVIP)
		} else {
			args = []string{"--proto", proto, "--interval", "1s", "-i", n.Iface, "-v", measureID,
				"-a", measureVIP, "--priority", pick(master, "150", "100")}
		}
		c := startCarpd(t, n, "", args...)
		return speaker{proc: c.Proc, masterEntries: func() int {
			return lab.CountLines(c.Output(), `"msg":"transition"`, `"to":"MASTER"`)
		}}
	}
}

func startMeasuredUcarp(t *testing.T, n *lab.Node, master bool) speaker {
	t.Helper()
	ucarp := lookPath(t, "ucarp")
	up, down, calls := ucarpScripts(t, true)
	// -z runs the down script on SIGTERM, so the leaving master drops the
	// VIP; -n skips the down script at start-up.
	argv := append([]string{ucarp}, carpArgs(n, measureID, pick(master, "0", "50"), "s3cret", measureVIP,
		"-u", up, "-d", down, "-n", "-z")...)
	return speaker{proc: n.Start(t, argv...), masterEntries: func() int {
		ups := 0
		for _, c := range calls() {
			if strings.HasPrefix(c, "up_") {
				ups++
			}
		}
		return ups
	}}
}

func startMeasuredKeepalived(version int) func(*testing.T, *lab.Node, bool) speaker {
	return func(t *testing.T, n *lab.Node, master bool) speaker {
		t.Helper()
		prio := 100
		if master {
			prio = 150
		}
		p := startKeepalived(t, n, keepalivedConf(t, version, prio, measureID, measureVIP, ""))
		return speaker{proc: p, masterEntries: func() int {
			return strings.Count(p.Output(), "Entering MASTER STATE")
		}}
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// killNamespace sends SIGKILL to every process left in n's namespace: the
// lab made it, so all of them are the dead master's (children, hooks).
func killNamespace(t *testing.T, n *lab.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", n.NS).Output()
	if err != nil {
		t.Fatalf("listing processes in %s: %v", n.NS, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// trialResult is what one fault on one pair showed.
type trialResult struct {
	// took is from the fault to the first ARP answer from the new
	// master; zero when none came within takeoverLimit.
	took time.Duration
	// sinceAdvert is took plus the time from the master's last
	// advertisement to the fault: the backup's timer runs from that
	// advertisement, so after a kill this is close to its master-down
	// interval whatever the phase of the fault.
	sinceAdvert time.Duration
	// entries counts the backup's entries into MASTER up to settleAfter
	// past the takeover; 1 is a clean takeover.
	entries int
	// flaps counts changes of the answering MAC after the new master's
	// first answer; 0 is a clean takeover.
	flaps int
}

// runTrial builds a fresh lab, lets n1 become master with n2 as backup,
// injects the fault into n1 and watches the VIP from the client.
func runTrial(t *testing.T, sys measuredSystem, f measuredFault) trialResult {
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr(measureVIP)
	a := sys.start(t, n1, true)
	lab.Wait(t, 10*time.Second, "n1 answering ARP", func() bool {
		mac, err := arpOwner(l, vip)
		return err == nil && mac.String() == n1.MAC.String()
	})
	lastAdvert := watchAdverts(t, l, n1.IP4.Addr())
	b := sys.start(t, n2, false)
	// Long enough for n2 to hear an advertisement from n1 (every 1 s),
	// far shorter than its master-down interval.
	time.Sleep(1500 * time.Millisecond)
	if n2.HasAddr(vip) || b.masterEntries() != 0 {
		t.Fatalf("n2 claimed the VIP before the fault")
	}

	start := time.Now()
	advert := lastAdvert()
	f.inject(t, n1, a.proc)
	w, err := l.WatchTakeover(vip, n2.MAC, start, takeoverLimit, probeEvery, settleAfter)
	if err != nil {
		t.Fatalf("probing ARP: %v", err)
	}
	r := trialResult{took: w.Took, entries: b.masterEntries(), flaps: w.Flaps()}
	if r.took == 0 {
		t.Errorf("n2 did not answer ARP for %s within %v; answers seen %v", vip, takeoverLimit, w.Owners)
	}
	if advert.IsZero() {
		t.Errorf("the client saw no advertisement from n1 before the fault")
	} else {
		r.sinceAdvert = r.took + start.Sub(advert)
	}
	t.Logf("%s %s: takeover %v (%v after n1's last advert), n2 MASTER entries %d, flaps %d, ARP answers from %v",
		sys.name, f.name, r.took.Round(time.Millisecond), r.sinceAdvert.Round(time.Millisecond), r.entries,
		r.flaps, w.Owners)
	return r
}

// watchAdverts listens on the client for protocol 112 packets from src to
// 224.0.0.18 until the test ends, and returns a function reporting when
// the last one arrived (zero before the first).
func watchAdverts(t *testing.T, l *lab.Lab, src netip.Addr) func() time.Time {
	t.Helper()
	var c net.PacketConn
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		if c, err = net.ListenPacket("ip4:112", "0.0.0.0"); err != nil {
			return err
		}
		return ipv4.NewPacketConn(c).JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)})
	})
	if err != nil {
		t.Fatalf("listening for advertisements on the client: %v", err)
	}
	var mu sync.Mutex
	var last time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			_, from, err := c.ReadFrom(buf) // Close in the cleanup ends it
			if err != nil {
				return
			}
			if ip, ok := from.(*net.IPAddr); ok && ip.IP.Equal(src.AsSlice()) {
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// TestMeasureTakeover measures takeover times of carpd, ucarp and
// keepalived pairs in the lab, for node death and a planned stop. It is a
// benchmark, not a check: it runs only when asked.
func TestMeasureTakeover(t *testing.T) {
	trials, ok := measureTrials(t)
	if !ok {
		t.Skipf("opt-in benchmark: run it with %s=5 [%s=$PWD/takeover.md] go test -count=1 -timeout 30m "+
			"-run '^TestMeasureTakeover$' -v ./cmd/carpd/", measureTrialsEnv, measureOutEnv)
	}
	out := os.Getenv(measureOutEnv)
	if out != "" {
		// go test runs in cmd/carpd: catch a path meant from the repository's
		// root before the trials, not after seven minutes of them.
		if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
			t.Fatalf("%s=%s: no directory %s here (%v); a relative path is relative to cmd/carpd, "+
				"pass an absolute one", measureOutEnv, out, filepath.Dir(out), err)
		}
	}
	started := time.Now()
	var cells []measureCell
	for _, sys := range measuredSystems() {
		for _, f := range measuredFaults() {
			c := measureCell{system: sys.name, fault: f.name, trials: trials}
			for i := 1; i <= trials; i++ {
				t.Run(fmt.Sprintf("%s/%s/%d", sys.name, f.name, i), func(t *testing.T) {
					if r := runTrial(t, sys, f); r.took > 0 {
						c.results = append(c.results, r)
					}
				})
			}
			cells = append(cells, c)
		}
	}
	md := measureReport(cells, trials, started, time.Since(started))
	t.Logf("takeover times:\n%s", md)
	if out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// measureTrials reads measureTrialsEnv; ok is false when it is unset.
func measureTrials(t *testing.T) (n int, ok bool) {
	t.Helper()
	v := os.Getenv(measureTrialsEnv)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		t.Fatalf("%s=%q, want a number of trials from 1 to 100", measureTrialsEnv, v)
	}
	return n, true
}

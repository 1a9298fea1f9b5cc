//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/mqttstream"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Environment of TestFaults, set by faults.sh.
const (
	// envFaultsOut opts in: the docs directory receiving
	// bench/faults.json and reliability.md.
	envFaultsOut      = "CARPD_FAULTS_OUT"
	envFaultsCarpd    = "CARPD_FAULTS_CARPD"
	envFaultsTrials   = "CARPD_FAULTS_TRIALS"
	envFaultsDuration = "CARPD_FAULTS_DURATION" // window of j and k
	envFaultsQuick    = "CARPD_FAULTS_QUICK"
	envFaultsOnly     = "CARPD_FAULTS_ONLY"   // comma-separated system ids
	envFaultsFaults   = "CARPD_FAULTS_FAULTS" // comma-separated fault ids
	envFaultsCommand  = "CARPD_FAULTS_COMMAND"
	envFaultsReport   = "CARPD_FAULTS_REPORT_ONLY"
	envFaultsShared   = "CARPD_FAULTS_SHARED" // what else ran on the machine
)

const (
	// sampleEvery is the period of the VIP and client neighbour sampler,
	// as the bench's ARP probes.
	sampleEvery = 10 * time.Millisecond
	// faultSettle is how long the pair is watched after the heal (or
	// after the fault, for faults without one).
	faultSettle = 10 * time.Second
	// hangSettle is longer: carpd's default hook timeout is 30 s.
	hangSettle = 35 * time.Second
	// probePeriod is the bridge probe's and so the heartbeat path's
	// dialling period.
	probePeriod = time.Second
)

// faultSystem is one setup of the matrix.
type faultSystem struct {
	id, name, timer string
	interval        time.Duration
	table           string // its DNAT table: ip carpd or ip classic
	start           func(t *testing.T, l *lab.Lab, n *lab.Node, master bool) *fnode
}

// fnode is one running node of a fault pair.
type fnode struct {
	n *lab.Node
	// procs are the daemon's processes in start order; the last one is
	// the current one.
	procs   []*lab.Proc
	restart func(t *testing.T) *lab.Proc
	entries func() int
	broker  func(t *testing.T) int
	// hangFlag makes the node's MASTER hook hang while it exists.
	hangFlag string
	status   *carpdOnly // nil for ucarp and keepalived
}

func (f *fnode) daemon() *lab.Proc { return f.procs[len(f.procs)-1] }

func faultSystems(carpd string, fast bool) []faultSystem {
	var out []faultSystem
	for _, proto := range []string{"carp", "vrrp3"} {
		for _, mode := range []string{"resolve", "off"} {
			name := "carpd CARP " + mode
			if proto == "vrrp3" {
				name = "carpd VRRPv3 " + mode
			}
			out = append(out, faultSystem{id: "carpd-" + proto + "-" + mode, name: name, timer: "1s",
				interval: time.Second, table: "carpd", start: faultCarpd(carpd, proto, time.Second, mode)})
		}
	}
	out = append(out,
		faultSystem{id: "ucarp", name: "ucarp", timer: "1s", interval: time.Second, table: "classic", start: faultUcarp},
		faultSystem{id: "keepalived", name: "keepalived VRRPv3", timer: "1s", interval: time.Second, table: "classic",
			start: faultKeepalived(time.Second)})
	if fast {
		for _, mode := range []string{"resolve", "off"} {
			out = append(out, faultSystem{id: "carpd-vrrp3-" + mode, name: "carpd VRRPv3 " + mode, timer: "100ms",
				interval: 100 * time.Millisecond, table: "carpd",
				start: faultCarpd(carpd, "vrrp3", 100*time.Millisecond, mode)})
		}
		out = append(out, faultSystem{id: "keepalived", name: "keepalived VRRPv3", timer: "100ms",
			interval: 100 * time.Millisecond, table: "classic", start: faultKeepalived(100 * time.Millisecond)})
	}
	return out
}

// hangScript is the extra hook of fault f: it hangs while flag exists,
// as a notification that waits on an unreachable server would.
func hangScript(flag string) string {
	return fmt.Sprintf("[ -e %s ] && sleep 600\nexit 0\n", flag)
}

// faultCarpd runs carpd with the classic broker setup plus the bridge
// probe towards the peer's broker, so that the heartbeat runs, and a
// master hook that hangs on demand.
func faultCarpd(bin, proto string, interval time.Duration, mode string) func(*testing.T, *lab.Lab, *lab.Node, bool) *fnode {
	return func(t *testing.T, l *lab.Lab, n *lab.Node, master bool) *fnode {
		t.Helper()
		dir := t.TempDir()
		conf := mosquittoConf(t, l, n, dir, false)
		peer := l.Nodes[0]
		if n == l.Nodes[0] {
			peer = l.Nodes[1]
		}
		writeFile(t, dir+"/hang", "#!/bin/sh\n"+hangScript(dir+"/hang.flag"), 0o755)
		router := fmt.Sprintf("    proto: vrrp3\n    vrid: %d\n    interval: %v\n    priority: %d\n",
			benchID, interval, pickInt(master, 150, backupPrio))
		if proto == "carp" {
			router = fmt.Sprintf("    proto: carp\n    vhid: %d\n    advbase: 1\n    advskew: %d\n    password: s3cret\n"+
				"    preempt: true\n", benchID, pickInt(master, 0, backupSkew))
		}
		yaml := fmt.Sprintf("broker:\n  config: %s\n  ready_timeout: 5s\n  stop_timeout: 2s\n"+
			"  backoff: {base: 100ms, cap: 400ms}\n"+
			"  probe: {topic: home/carpd-probe, interval: %v, deadline: 800ms, peer: '%s'}\n"+
			"routers:\n  - name: mqtt\n    iface: %s\n%s    vips: [%s]\n    split_brain: %s\n"+
			"    hooks: {master: [%s/hang]}\n",
			conf, probePeriod, peer.IP4.Addr(), n.Iface, router, benchVIP, mode, dir)
		writeFile(t, dir+"/carpd.yaml", yaml, 0o600)
		argv := []string{bin, "run", "--state-dir", dir + "/state", "--log-format", "json", "-c", dir + "/carpd.yaml"}
		f := &fnode{n: n, hangFlag: dir + "/hang.flag"}
		f.restart = func(t *testing.T) *lab.Proc { return n.Start(t, argv...) }
		f.procs = []*lab.Proc{f.restart(t)}
		f.status = &carpdOnly{n: n, dir: dir, bin: bin}
		f.entries = func() int {
			c := 0
			for _, p := range f.procs {
				c += lab.CountLines(p.Output(), `"msg":"transition"`, `"to":"MASTER"`)
			}
			return c
		}
		f.broker = func(t *testing.T) int {
			r, err := f.status.tryReport()
			if err != nil || r.Broker == nil {
				return 0
			}
			return r.Broker.PID
		}
		return f
	}
}

// classicHang appends the on-demand hang to the classic up script, after
// its real work (VIP, DNAT, broker restart): a notification step that
// hangs.
func classicHang(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(dir + "/up")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/up", string(b)+hangScript(dir+"/hang.flag"), 0o755)
	return dir + "/hang.flag"
}

func faultUcarp(t *testing.T, l *lab.Lab, n *lab.Node, master bool) *fnode {
	t.Helper()
	dir := t.TempDir()
	mosquittoConf(t, l, n, dir, true)
	classicScripts(t, n, dir, true)
	flag := classicHang(t, dir)
	argv := []string{lookPath(t, "ucarp"), "-i", n.Iface, "-s", n.IP4.Addr().String(), "-v", strconv.Itoa(benchID),
		"-p", "s3cret", "-a", benchVIP, "-b", "1", "-k", strconv.Itoa(pickInt(master, 0, backupSkew)),
		"-u", dir + "/up", "-d", dir + "/down", "-n", "-z", "-P"}
	f := &fnode{n: n, hangFlag: flag, entries: func() int { return ups(dir) },
		broker: func(*testing.T) int { return pidFile(dir)() }}
	f.restart = func(t *testing.T) *lab.Proc { return n.Start(t, argv...) }
	f.procs = []*lab.Proc{f.restart(t)}
	return f
}

func faultKeepalived(interval time.Duration) func(*testing.T, *lab.Lab, *lab.Node, bool) *fnode {
	return func(t *testing.T, l *lab.Lab, n *lab.Node, master bool) *fnode {
		t.Helper()
		dir := t.TempDir()
		mosquittoConf(t, l, n, dir, true)
		classicScripts(t, n, dir, false)
		flag := classicHang(t, dir)
		f := &fnode{n: n, hangFlag: flag, entries: func() int { return ups(dir) },
			broker: func(*testing.T) int { return pidFile(dir)() }}
		f.restart = func(t *testing.T) *lab.Proc {
			return startKeepalivedProc(t, n, dir, benchID, pickInt(master, 150, backupPrio), interval, benchVIP, true)
		}
		f.procs = []*lab.Proc{f.restart(t)}
		return f
	}
}

// faultPair is a running pair, its client stream and the sampler.
type faultPair struct {
	sys   faultSystem
	l     *lab.Lab
	nodes [2]*fnode
	s     *mqttstream.Stream
	smp   *sampler
}

// startFaultPair starts sys on n1 (preferred) and n2, waits until n1
// answers ARP for the VIP, n2 has stayed backup and, with the heartbeat
// resolving, n2 hears n1 MASTER over the broker path; then starts the
// client stream and the sampler, and returns once n1's announcements of
// its promotion are over.
func startFaultPair(t *testing.T, sys faultSystem, extra int) *faultPair {
	t.Helper()
	l := lab.New(t, 2+extra, lab.WithoutIPv6())
	vip := netip.MustParseAddr(benchVIP)
	a := sys.start(t, l, l.Nodes[0], true)
	lab.Wait(t, 15*time.Second, "n1 answering ARP for the VIP", func() bool {
		mac, err := l.ARPOwner(vip, 100*time.Millisecond)
		return err == nil && mac.String() == l.Nodes[0].MAC.String()
	})
	promoted := time.Now()
	b := sys.start(t, l, l.Nodes[1], false)
	time.Sleep(max(time.Second, sys.interval+500*time.Millisecond))
	if b.entries() != 0 {
		t.Fatalf("n2 became master before the fault")
	}
	if strings.HasSuffix(sys.id, "-resolve") {
		lab.Wait(t, 20*time.Second, "n2 hearing n1 MASTER over the heartbeat", func() bool {
			r, err := b.status.tryReport()
			return err == nil && len(r.Routers) == 1 && r.Routers[0].Peer != nil && r.Routers[0].Peer.Heartbeats > 0 &&
				r.Routers[0].Peer.State == "MASTER"
		})
	}
	p := &faultPair{sys: sys, l: l, nodes: [2]*fnode{a, b}}
	p.s = startStream(t, l)
	p.smp = startSampler(t, l, vip)
	t.Cleanup(p.smp.finish)
	// A fault inside n1's announcements of its promotion would have both
	// masters of a cut announcing, and the client's entry following the
	// last to speak (docs/troubleshooting.md, "A cut between the nodes"):
	// carpd's default bursts end 9.4 s after the promotion, keepalived's
	// second one comes 5 s after it. The faults strike a settled pair.
	time.Sleep(time.Until(promoted.Add(announceWindow)))
	return p
}

// announceWindow is how long after n1's promotion the faults wait.
const announceWindow = 10 * time.Second

// vipSample is one look at the pair: which node holds the VIP, and the MAC
// of the client's neighbour entry for it ("" when none is complete).
type vipSample struct {
	at  time.Time
	vip [2]bool
	mac string
}

// sampler looks at both nodes' addresses and the client's neighbour table
// every sampleEvery, through netlink sockets opened in each namespace.
type sampler struct {
	stop, done chan struct{}
	once       sync.Once
	mu         sync.Mutex
	samples    []vipSample
	err        error
}

func nsHandle(t *testing.T, n *lab.Node) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromName(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func startSampler(t *testing.T, l *lab.Lab, vip netip.Addr) *sampler {
	t.Helper()
	hs := [2]*netlink.Handle{nsHandle(t, l.Nodes[0]), nsHandle(t, l.Nodes[1])}
	hc := nsHandle(t, l.Client)
	link, err := hc.LinkByName(l.Client.Iface)
	if err != nil {
		t.Fatal(err)
	}
	ip := net.IP(vip.AsSlice())
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer func() {
			for _, h := range append(hs[:], hc) {
				h.Close()
			}
		}()
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			var sm vipSample
			sm.at = time.Now()
			var err error
			for i, h := range hs {
				var as []netlink.Addr
				if as, err = h.AddrList(nil, netlink.FAMILY_V4); err != nil {
					break
				}
				sm.vip[i] = slices.ContainsFunc(as, func(a netlink.Addr) bool { return a.IP.Equal(ip) })
			}
			if err == nil {
				var ns []netlink.Neigh
				if ns, err = hc.NeighList(link.Attrs().Index, netlink.FAMILY_V4); err == nil {
					for _, n := range ns {
						if n.IP.Equal(ip) && len(n.HardwareAddr) > 0 && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
							sm.mac = n.HardwareAddr.String()
						}
					}
				}
			}
			s.mu.Lock()
			if err != nil {
				s.err = err
				s.mu.Unlock()
				return
			}
			s.samples = append(s.samples, sm)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) finish() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// window returns the samples within [from, to) and the sampler's error.
func (s *sampler) window(from, to time.Time) ([]vipSample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vipSample
	for _, sm := range s.samples {
		if !sm.at.Before(from) && sm.at.Before(to) {
			out = append(out, sm)
		}
	}
	return out, s.err
}

// last is the latest sample.
func (s *sampler) last() (vipSample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return vipSample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// vipTimes adds up the time both nodes and no node held the VIP; each
// sample stands for the time up to the next one.
func vipTimes(ss []vipSample) (dual, none time.Duration) {
	for i := 1; i < len(ss); i++ {
		d := ss[i].at.Sub(ss[i-1].at)
		switch {
		case ss[i-1].vip[0] && ss[i-1].vip[1]:
			dual += d
		case !ss[i-1].vip[0] && !ss[i-1].vip[1]:
			none += d
		}
	}
	return dual, none
}

// macChanges counts the changes of the client's neighbour entry from one
// MAC to another; an entry going away and coming back with the same MAC
// is no change.
func macChanges(ss []vipSample, before string) int {
	c, last := 0, before
	for _, sm := range ss {
		if sm.mac != "" && sm.mac != last {
			if last != "" {
				c++
			}
			last = sm.mac
		}
	}
	return c
}

// longestGap is the longest time without an arrival that began within
// [from, to), between two arrivals or from the last one to end; with
// spanning, also a gap that began before from and was still open at from
// (a fault that stops the stream at once falls into the publisher's
// 10 ms between two messages).
func longestGap(as []mqttstream.Arrival, from, to, end time.Time, spanning bool) time.Duration {
	var g time.Duration
	for i := range as {
		start := as[i].At
		stop := end
		if i+1 < len(as) {
			stop = as[i+1].At
		}
		in := !start.Before(from) && start.Before(to)
		if spanning && start.Before(from) && stop.After(from) {
			in = true
		}
		if in {
			g = max(g, stop.Sub(start))
		}
	}
	return g
}

// lostBetween counts the sequence numbers in (from, to] never received.
func lostBetween(as []mqttstream.Arrival, from, to int) int {
	seen := make(map[int]bool, len(as))
	for _, a := range as {
		seen[a.Seq] = true
	}
	n := 0
	for seq := from + 1; seq <= to; seq++ {
		if !seen[seq] {
			n++
		}
	}
	return n
}

// nodeFault is one fault of the matrix, a to i.
type nodeFault struct {
	id, name string
	// hold is the time between inject and heal; heal may be nil.
	hold   time.Duration
	settle time.Duration
	inject func(t *testing.T, p *faultPair)
	heal   func(t *testing.T, p *faultPair)
	// restored, when set, is polled after the fault: the time until it
	// holds is the trial's RestoreMS.
	restored func(t *testing.T, p *faultPair) bool
}

// nsRun runs argv in n's namespace and fails t on error.
func nsRun(t *testing.T, n *lab.Node, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Run(ctx, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// hasDNAT reports whether n's nftables ruleset holds the system's DNAT
// to the broker.
func hasDNAT(t *testing.T, n *lab.Node, table string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := n.Run(ctx, "nft", "list", "table", "ip", table)
	return err == nil && strings.Contains(string(out), "dnat")
}

func nodeFaults() []nodeFault {
	signal := func(sig syscall.Signal) func(t *testing.T, p *faultPair) {
		return func(t *testing.T, p *faultPair) {
			if err := p.nodes[0].daemon().Signal(sig); err != nil {
				t.Fatal(err)
			}
		}
	}
	restart := func(t *testing.T, p *faultPair) {
		n := p.nodes[0]
		// A daemon still running (a hung SIGTERM) is not started twice.
		select {
		case <-n.daemon().Done():
		case <-time.After(3 * time.Second):
			t.Logf("n1's daemon still runs %v after the signal; not restarted", 3*time.Second)
			return
		}
		n.procs = append(n.procs, n.restart(t))
	}
	var brokerPID int
	brokerSignal := func(sig syscall.Signal) func(t *testing.T, p *faultPair) {
		return func(t *testing.T, p *faultPair) {
			if sig == syscall.SIGSTOP {
				brokerPID = p.nodes[0].broker(t)
			}
			if brokerPID <= 1 {
				t.Fatalf("no broker PID on n1")
			}
			if err := syscall.Kill(brokerPID, sig); err != nil {
				t.Fatal(err)
			}
		}
	}
	dnatBack := func(t *testing.T, p *faultPair) bool {
		return hasDNAT(t, p.nodes[0].n, p.sys.table) || hasDNAT(t, p.nodes[1].n, p.sys.table)
	}
	vip := netip.MustParseAddr(benchVIP)
	return []nodeFault{
		{id: "a", name: "cut between the nodes", hold: 10 * time.Second, settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) { p.l.Partition(p.l.Nodes[0], p.l.Nodes[1]) },
			heal:   func(t *testing.T, p *faultPair) { p.l.Heal() }},
		{id: "b", name: "multicast adverts filtered", hold: 30 * time.Second, settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) {
				p.l.BlockMulticast(p.l.Nodes[0])
				p.l.BlockMulticast(p.l.Nodes[1])
			},
			heal: func(t *testing.T, p *faultPair) {
				p.l.AllowMulticast(p.l.Nodes[0])
				p.l.AllowMulticast(p.l.Nodes[1])
			}},
		{id: "c", name: "one-way loss n1→n2, every frame", hold: 10 * time.Second, settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) { p.l.OneWay(p.l.Nodes[0], p.l.Nodes[1]) },
			heal:   func(t *testing.T, p *faultPair) { p.l.Heal() }},
		{id: "c2", name: "one-way loss n1→n2, adverts only", hold: 10 * time.Second, settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) { p.l.OneWay(p.l.Nodes[0], p.l.Nodes[1], 112) },
			heal:   func(t *testing.T, p *faultPair) { p.l.Heal() }},
		{id: "d", name: "SIGKILL of the master's daemon, restart after 5 s", hold: 5 * time.Second,
			settle: faultSettle, inject: signal(syscall.SIGKILL), heal: restart},
		{id: "e", name: "broker SIGSTOP on the master for 6 s", hold: 6 * time.Second, settle: faultSettle,
			inject: brokerSignal(syscall.SIGSTOP), heal: brokerSignal(syscall.SIGCONT)},
		{id: "f", name: "hook hanging in a handover", hold: 8 * time.Second, settle: hangSettle,
			inject: func(t *testing.T, p *faultPair) {
				writeFile(t, p.nodes[1].hangFlag, "", 0o644)
				signal(syscall.SIGTERM)(t, p)
			},
			heal: restart},
		{id: "g1", name: "DNAT table deleted on the master", settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) {
				nsRun(t, p.nodes[0].n, "nft", "delete", "table", "ip", p.sys.table)
			}, restored: dnatBack},
		{id: "g2", name: "nft flush ruleset on the master", settle: faultSettle,
			inject:   func(t *testing.T, p *faultPair) { nsRun(t, p.nodes[0].n, "nft", "flush", "ruleset") },
			restored: dnatBack},
		{id: "h", name: "VIP deleted on the master", settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) {
				nsRun(t, p.nodes[0].n, "ip", "addr", "del", benchVIP+"/32", "dev", p.nodes[0].n.Iface)
			},
			restored: func(t *testing.T, p *faultPair) bool {
				return p.nodes[0].n.HasAddr(vip) || p.nodes[1].n.HasAddr(vip)
			}},
		{id: "i", name: "master's interface down 5 s", hold: 5 * time.Second, settle: faultSettle,
			inject: func(t *testing.T, p *faultPair) {
				nsRun(t, p.nodes[0].n, "ip", "link", "set", p.nodes[0].n.Iface, "down")
			},
			heal: func(t *testing.T, p *faultPair) {
				nsRun(t, p.nodes[0].n, "ip", "link", "set", p.nodes[0].n.Iface, "up")
			}},
	}
}

// runNodeFault runs fault f once on a fresh pair of sys.
func runNodeFault(t *testing.T, sys faultSystem, f nodeFault, trial int) FaultTrial {
	r := FaultTrial{System: sys.name, Timer: sys.timer, Fault: f.id, Trial: trial, HoldS: f.hold.Seconds(),
		RestoreMS: -1, Error: "trial failed (see the test log)"}
	p := startFaultPair(t, sys, 0)
	entries0 := p.nodes[0].entries() + p.nodes[1].entries()
	last, _ := p.smp.last()
	start := time.Now()
	f.inject(t, p)
	r.Error = ""
	if f.restored != nil {
		deadline := start.Add(f.settle)
		for time.Now().Before(deadline) {
			if f.restored(t, p) {
				r.RestoreMS = ms(time.Since(start))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	} else {
		time.Sleep(time.Until(start.Add(f.hold)))
	}
	healAt := time.Now()
	if f.heal != nil {
		f.heal(t, p)
		healAt = time.Now()
	}
	time.Sleep(time.Until(healAt.Add(f.settle)))
	end := time.Now()
	r.Entries = p.nodes[0].entries() + p.nodes[1].entries() - entries0
	p.smp.finish()
	ss, err := p.smp.window(start, end)
	if err != nil {
		t.Fatalf("sampling: %v", err)
	}
	dual, none := vipTimes(ss)
	r.DualMS, r.NoneMS = ms(dual), ms(none)
	r.ARPChanges = macChanges(ss, last.mac)
	as := p.s.Arrivals()
	r.OutageFaultMS = ms(longestGap(as, start, healAt, end, true))
	r.OutageHealMS = -1
	if f.heal != nil {
		r.OutageHealMS = ms(longestGap(as, healAt, end, end, false))
	}
	res := p.s.Stop(time.Second)
	r.Sent, r.Lost, r.Dups = res.Sent, res.Lost, res.Dups
	r.Leftovers = leftovers(t, p, ss)
	logEvents(t, p.s, start)
	t.Logf("%s %s %s: two MASTERs %.0f ms, none %.0f ms, outage %.0f / %.0f ms, lost %d of %d, ARP changes %d, "+
		"entries %d, restore %.0f ms, leftovers %v", sys.name, sys.timer, f.id, r.DualMS, r.NoneMS, r.OutageFaultMS,
		r.OutageHealMS, r.Lost, r.Sent, r.ARPChanges, r.Entries, r.RestoreMS, r.Leftovers)
	return r
}

// expectedProcs are the programs a node of the setup runs; anything else
// in its namespace at the end (a hung hook's sleep, a shell) is a
// leftover.
var expectedProcs = []string{"carpd", "ucarp", "keepalived", "mosquitto"}

// leftovers lists what is wrong at the end of a trial: the VIP anywhere
// but on n1 alone (both preempt), the DNAT anywhere but on n1, daemons
// gone, brokers doubled, processes that should not be there.
func leftovers(t *testing.T, p *faultPair, ss []vipSample) []string {
	t.Helper()
	var out []string
	if len(ss) > 0 {
		switch v := ss[len(ss)-1].vip; {
		case v[0] && v[1]:
			out = append(out, "VIP on both nodes")
		case v[1]:
			out = append(out, "VIP on n2")
		case !v[0]:
			out = append(out, "VIP on no node")
		}
	}
	if !hasDNAT(t, p.nodes[0].n, p.sys.table) {
		out = append(out, "no DNAT on n1")
	}
	if hasDNAT(t, p.nodes[1].n, p.sys.table) {
		out = append(out, "DNAT on n2")
	}
	for _, n := range p.nodes {
		select {
		case <-n.daemon().Done():
			out = append(out, "daemon not running on "+n.n.Name)
		default:
		}
		brokers := 0
		stray := map[string]int{}
		for _, pid := range namespacePIDs(t, n.n) {
			c := comm(pid)
			switch {
			case c == "mosquitto":
				brokers++
			case slices.Contains(expectedProcs, c):
			case c != "":
				stray[c]++
			}
		}
		if brokers != 1 {
			out = append(out, fmt.Sprintf("%d brokers on %s", brokers, n.n.Name))
		}
		for _, c := range slices.Sorted(mapKeys(stray)) {
			out = append(out, fmt.Sprintf("%d× %s on %s", stray[c], c, n.n.Name))
		}
	}
	return out
}

func mapKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// runLoss runs fault j on one pair: random loss pct on every port of the
// segment (both nodes and the client) for window, for each pct in turn.
func runLoss(t *testing.T, sys faultSystem, pcts []int, window time.Duration) []FaultTrial {
	p := startFaultPair(t, sys, 0)
	var out []FaultTrial
	for _, pct := range pcts {
		r := FaultTrial{System: sys.name, Timer: sys.timer, Fault: "j", Trial: 1, LossPct: pct, RestoreMS: -1,
			OutageHealMS: -1}
		entries0 := p.nodes[0].entries() + p.nodes[1].entries()
		seq0 := p.s.Sent()
		start := time.Now()
		for _, n := range append(slices.Clone(p.l.Nodes), p.l.Client) {
			p.l.Loss(n, pct)
		}
		time.Sleep(window)
		for _, n := range append(slices.Clone(p.l.Nodes), p.l.Client) {
			p.l.Loss(n, 0)
		}
		end := time.Now()
		seq1 := p.s.Sent()
		r.WindowS = end.Sub(start).Seconds()
		r.Entries = p.nodes[0].entries() + p.nodes[1].entries() - entries0
		r.PerHour = float64(r.Entries) * 3600 / r.WindowS
		ss, err := p.smp.window(start, end)
		if err != nil {
			t.Fatalf("sampling: %v", err)
		}
		dual, none := vipTimes(ss)
		r.DualMS, r.NoneMS = ms(dual), ms(none)
		r.ARPChanges = macChanges(ss, "")
		// Settle before counting losses, so that retransmissions in
		// flight arrive.
		time.Sleep(3 * time.Second)
		as := p.s.Arrivals()
		r.OutageFaultMS = ms(longestGap(as, start, end, end, true))
		r.Sent, r.Lost = seq1-seq0, lostBetween(as, seq0, seq1)
		t.Logf("%s %s j %d%%: %d spurious entries into MASTER over %.0f s (%.0f/h), two MASTERs %.0f ms, none %.0f ms, "+
			"longest outage %.0f ms, lost %d of %d, ARP changes %d", sys.name, sys.timer, pct, r.Entries, r.WindowS,
			r.PerHour, r.DualMS, r.NoneMS, r.OutageFaultMS, r.Lost, r.Sent, r.ARPChanges)
		out = append(out, r)
	}
	p.s.Stop(time.Second)
	p.smp.finish()
	return out
}

// runStarvation is fault k: a sub-second pair of subsecond_test.go's
// setups, settled, then a busy loop per core in a third namespace for
// window; every entry into MASTER in it is spurious.
func runStarvation(t *testing.T, sys subSystem, window time.Duration) FaultTrial {
	r := FaultTrial{System: sys.name, Timer: sys.timer, Fault: "k", Trial: 1, RestoreMS: -1, OutageFaultMS: -1,
		OutageHealMS: -1, Setting: sys.setting, Error: "trial failed (see the test log)"}
	l := lab.New(t, 3, lab.WithoutIPv6())
	vip := netip.MustParseAddr(subVIP)
	a := sys.start(t, l.Nodes[0], true)
	lab.Wait(t, 15*time.Second, "n1 answering ARP for the VIP", func() bool {
		mac, err := l.ARPOwner(vip, 100*time.Millisecond)
		return err == nil && mac.String() == l.Nodes[0].MAC.String()
	})
	b := sys.start(t, l.Nodes[1], false)
	time.Sleep(2 * time.Second)
	r.Error = ""
	from, to, busy := watchWindow(t, l.Nodes[2], window, true)
	r.Busy = busy
	r.WindowS = to.Sub(from).Seconds()
	ea, eb := a.events(), b.events()
	r.Entries = entries(ea, from, to) + entries(eb, from, to)
	r.PerHour = float64(r.Entries) * 3600 / r.WindowS
	// n1 is MASTER throughout unless it left: two MASTERs is n2's time
	// in MASTER while n1 stayed, approximated by n2's MASTER time when
	// n1 never left.
	r.BackupMasterMS = ms(masterTime(eb, from, to))
	r.NoneMS = ms(window - masterTime(ea, from, to) - masterTime(eb, from, to))
	if r.NoneMS < 0 {
		r.NoneMS = 0
	}
	t.Logf("%s %s k: %d spurious entries into MASTER over %.0f s with %d busy loops (%.0f/h), n2 MASTER %.0f ms",
		sys.name, sys.timer, r.Entries, r.WindowS, r.Busy, r.PerHour, r.BackupMasterMS)
	return r
}

// TestFaults runs the fault matrix and writes docs/bench/faults.json and
// docs/reliability.md. It is a benchmark, not a check: it runs only under
// scripts/bench/faults.sh.
func TestFaults(t *testing.T) {
	out := os.Getenv(envFaultsOut)
	if out == "" {
		t.Skipf("opt-in benchmark: run scripts/bench/faults.sh (sets %s)", envFaultsOut)
	}
	path := filepath.Join(out, "bench", "faults.json")
	if os.Getenv(envFaultsReport) == "1" {
		run, err := loadFaults(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteReliability(out, run); err != nil {
			t.Fatal(err)
		}
		return
	}
	carpd := os.Getenv(envFaultsCarpd)
	trials, err := strconv.Atoi(os.Getenv(envFaultsTrials))
	if err != nil || trials < 1 || trials > 50 {
		t.Fatalf("%s=%q: want 1..50", envFaultsTrials, os.Getenv(envFaultsTrials))
	}
	window, err := time.ParseDuration(os.Getenv(envFaultsDuration))
	if err != nil || window < 5*time.Second || window > time.Hour {
		t.Fatalf("%s=%q: want a duration of 5s..1h", envFaultsDuration, os.Getenv(envFaultsDuration))
	}
	only := splitList(os.Getenv(envFaultsOnly))
	want := splitList(os.Getenv(envFaultsFaults))
	meta := FaultPass{Started: time.Now().UTC().Format(time.RFC3339Nano), Command: os.Getenv(envFaultsCommand),
		Quick: os.Getenv(envFaultsQuick) == "1", Trials: trials, DurationS: window.Seconds(), Machine: machine(carpd),
		Shared: os.Getenv(envFaultsShared), Systems: only, Faults: want}
	if err := os.MkdirAll(filepath.Join(out, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	// This pass's rows; every save merges them into the file as it is
	// then, under a lock, so that passes run side by side (one on the
	// CPU-light faults, one on the loss windows) keep each other's rows.
	var mine []FaultTrial
	var final FaultRun
	save := func() {
		meta.Finished = time.Now().UTC().Format(time.RFC3339)
		run, err := mergeFaults(path, meta, mine)
		if err != nil {
			t.Fatal(err)
		}
		final = run
	}
	record := func(rs ...FaultTrial) {
		mine = append(mine, rs...)
		save()
	}
	pickedFault := func(id string) bool { return len(want) == 0 || slices.Contains(want, id) }
	pickedSys := func(id string) bool { return len(only) == 0 || slices.Contains(only, id) }
	for _, f := range nodeFaults() {
		if !pickedFault(f.id) {
			continue
		}
		for _, sys := range faultSystems(carpd, false) {
			if !pickedSys(sys.id) {
				continue
			}
			for i := 1; i <= trials; i++ {
				t.Run(fmt.Sprintf("%s/%s/%d", f.id, sys.id, i), func(t *testing.T) {
					r := FaultTrial{System: sys.name, Timer: sys.timer, Fault: f.id, Trial: i, RestoreMS: -1,
						OutageFaultMS: -1, OutageHealMS: -1, Error: "trial failed (see the test log)"}
					defer func() { record(r) }()
					r = runNodeFault(t, sys, f, i)
				})
			}
		}
	}
	if pickedFault("j") {
		for _, sys := range faultSystems(carpd, true) {
			if !pickedSys(sys.id) {
				continue
			}
			t.Run(fmt.Sprintf("j/%s/%s", sys.id, sys.timer), func(t *testing.T) {
				rs := []FaultTrial{}
				defer func() {
					if len(rs) == 0 {
						rs = append(rs, FaultTrial{System: sys.name, Timer: sys.timer, Fault: "j", LossPct: 1,
							Trial: 1, RestoreMS: -1, OutageFaultMS: -1, OutageHealMS: -1, Error: "trial failed"})
					}
					record(rs...)
				}()
				rs = runLoss(t, sys, []int{1, 5}, window)
			})
		}
	}
	if pickedFault("k") {
		for _, sys := range subSystems(carpd) {
			if sys.jitterOnly || !pickedSys(starveID(sys)) {
				continue
			}
			t.Run(fmt.Sprintf("k/%s/%s", sys.name, sys.timer), func(t *testing.T) {
				r := FaultTrial{System: sys.name, Timer: sys.timer, Fault: "k", Trial: 1, RestoreMS: -1,
					OutageFaultMS: -1, OutageHealMS: -1, Error: "trial failed (see the test log)"}
				defer func() { record(r) }()
				r = runStarvation(t, sys, window)
			})
		}
	}
	save()
	if err := WriteReliability(out, final); err != nil {
		t.Fatal(err)
	}
}

func loadFaults(path string) (FaultRun, error) {
	var run FaultRun
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return run, nil
	}
	if err != nil {
		return run, err
	}
	if err := json.Unmarshal(b, &run); err != nil {
		return run, fmt.Errorf("%s: %w", path, err)
	}
	return run, nil
}

// mergeFaults rewrites path with this pass's metadata and rows: the
// pass (known by its start) is added or updated, and its rows replace
// those of every cell it measured, whichever pass made them.
func mergeFaults(path string, meta FaultPass, mine []FaultTrial) (FaultRun, error) {
	// The lock lives outside docs/, which the repository tracks.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "carpd-faults.json.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return FaultRun{}, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return FaultRun{}, err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	run, err := loadFaults(path)
	if err != nil {
		return run, err
	}
	pass := slices.IndexFunc(run.Passes, func(p FaultPass) bool { return p.Started == meta.Started })
	if pass < 0 {
		run.Passes = append(run.Passes, meta)
		pass = len(run.Passes) - 1
	}
	run.Passes[pass] = meta
	sameCell := func(a, b FaultTrial) bool {
		return a.System == b.System && a.Timer == b.Timer && a.Fault == b.Fault && a.LossPct == b.LossPct
	}
	run.Trials = slices.DeleteFunc(run.Trials, func(o FaultTrial) bool {
		return o.Pass == pass || slices.ContainsFunc(mine, func(r FaultTrial) bool { return sameCell(o, r) })
	})
	for _, r := range mine {
		r.Pass = pass
		run.Trials = append(run.Trials, r)
	}
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return run, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return run, err
	}
	return run, os.Rename(tmp, tmp[:len(tmp)-len(".tmp")])
}

// starveID maps a sub-second pair to the system ids of --only: the carpd
// pairs run without a broker, so both carpd ids of the protocol pick it.
func starveID(sys subSystem) string {
	switch sys.name {
	case "carpd CARP":
		return "carpd-carp-resolve"
	case "carpd VRRPv3":
		return "carpd-vrrp3-resolve"
	case "keepalived VRRPv3":
		return "keepalived"
	}
	return sys.name
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

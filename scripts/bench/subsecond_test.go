//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// Sub-second timers: pairs without a broker at CARP advbase 0
// and VRRPv3 at 50 and 100 ms, each watched idle and with every core busy,
// then killed.
const (
	// subVIP is the pairs' VIP; they run in a lab of their own, but a
	// different address keeps their logs apart from the main trials'.
	subVIP = "198.18.0.40"
	subID  = 40
	// jitterCap caps the windows of the pairs measured for jitter only
	// (100 ms): their figures settle long before ten minutes.
	jitterCap = time.Minute
	// subTakeoverLimit bounds the wait for the takeover; every bound here
	// is below 400 ms.
	subTakeoverLimit = 5 * time.Second
)

// subSystem is one sub-second setup.
type subSystem struct {
	name, timer string
	// setting says how both nodes are configured, for the report.
	setting string
	// interval is n1's advertisement interval.
	interval time.Duration
	// down is each node's master-down interval: a takeover after the
	// death of the other is bounded by it.
	down [2]time.Duration
	// jitterOnly marks the 100 ms pairs, there for the send jitter; their
	// windows are capped at jitterCap.
	jitterOnly bool
	start      func(t *testing.T, n *lab.Node, master bool) *subNode
}

// subNode is one running side of a sub-second pair.
type subNode struct {
	n      *lab.Node
	daemon *lab.Proc
	// events returns the node's transitions so far, in order.
	events func() []subEvent
}

// subEvent is a transition: into MASTER (master) or out of it.
type subEvent struct {
	at     time.Time
	master bool
}

// CARP at advbase 0: the interval is advskew/256 s, and the FreeBSD and
// ucarp master-down interval deadratio × advbase + advskew/256 is the
// advskew alone (docs/protocol.md).
const (
	subMasterSkew = 26
	subBackupSkew = 92
	subPrio       = 150
)

func skewDur(skew int) time.Duration { return time.Duration(skew) * time.Second / 256 }

// vrrpDown is RFC 5798 §6.1's Master_Down_Interval.
func vrrpDown(interval time.Duration, prio int) time.Duration {
	return 3*interval + time.Duration(256-prio)*interval/256
}

func subSystems(carpd string) []subSystem {
	carp := func(name string) subSystem {
		return subSystem{name: name, timer: "advbase 0", setting: fmt.Sprintf("advskew %d / %d, password",
			subMasterSkew, subBackupSkew), interval: skewDur(subMasterSkew),
			down: [2]time.Duration{skewDur(subMasterSkew), skewDur(subBackupSkew)}}
	}
	vrrp := func(name string, interval time.Duration) subSystem {
		return subSystem{name: name, timer: interval.String(), setting: fmt.Sprintf("priority %d / %d", subPrio,
			backupPrio), interval: interval, down: [2]time.Duration{vrrpDown(interval, subPrio),
			vrrpDown(interval, backupPrio)}, jitterOnly: interval >= 100*time.Millisecond}
	}
	c, u := carp("carpd CARP"), carp("ucarp")
	c.start, u.start = subCarpd(carpd, "carp", 0), subUcarp
	v, k := vrrp("carpd VRRPv3", 50*time.Millisecond), vrrp("keepalived VRRPv3", 50*time.Millisecond)
	v.start, k.start = subCarpd(carpd, "vrrp3", v.interval), subKeepalived(k.interval)
	v1, k1 := vrrp("carpd VRRPv3", 100*time.Millisecond), vrrp("keepalived VRRPv3", 100*time.Millisecond)
	v1.start, k1.start = subCarpd(carpd, "vrrp3", v1.interval), subKeepalived(k1.interval)
	return []subSystem{c, v, u, k, v1, k1}
}

// subCarpd runs carpd alone with one router.
func subCarpd(bin, proto string, interval time.Duration) func(*testing.T, *lab.Node, bool) *subNode {
	return func(t *testing.T, n *lab.Node, master bool) *subNode {
		t.Helper()
		dir := t.TempDir()
		router := fmt.Sprintf("{iface: %s, vhid: %d, advbase: 0, advskew: %d, password: s3cret, vips: [%s]}",
			n.Iface, subID, pickInt(master, subMasterSkew, subBackupSkew), subVIP)
		if proto == "vrrp3" {
			router = fmt.Sprintf("{iface: %s, proto: vrrp3, vrid: %d, interval: %v, priority: %d, vips: [%s]}",
				n.Iface, subID, interval, pickInt(master, subPrio, backupPrio), subVIP)
		}
		writeFile(t, dir+"/carpd.yaml", "routers:\n  - "+router+"\n", 0o600)
		p := n.Start(t, bin, "run", "--state-dir", dir+"/state", "--log-format", "json", "-c", dir+"/carpd.yaml")
		return &subNode{n: n, daemon: p, events: func() []subEvent { return carpdEvents(p.Output()) }}
	}
}

// carpdEvents reads the transitions from carpd's JSON log; the record's
// time is when the transition's steps (VIPs, ARP) were done.
func carpdEvents(log string) []subEvent {
	var out []subEvent
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"msg":"transition`) {
			continue
		}
		var r struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
			To   string    `json:"to"`
		}
		if json.Unmarshal([]byte(line), &r) != nil || r.Msg == "transition step" || r.Msg == "transition step failed" {
			continue
		}
		out = append(out, subEvent{at: r.Time, master: r.To == "MASTER"})
	}
	return out
}

// eventScripts writes up and down scripts that only log the time of the
// transition to dir/events; with vip, up and down also add and remove the
// VIP, which ucarp never does itself and which the ARP probes need.
func eventScripts(t *testing.T, n *lab.Node, dir string, vip bool) {
	t.Helper()
	add, del := "", ""
	if vip {
		add = fmt.Sprintf("ip addr add %s/32 dev %s\n", subVIP, n.Iface)
		del = fmt.Sprintf("ip addr del %s/32 dev %s 2>/dev/null\n", subVIP, n.Iface)
	}
	writeFile(t, dir+"/up", fmt.Sprintf("#!/bin/sh\necho \"$(date +%%s.%%N) MASTER\" >> %s/events\n%s", dir, add), 0o755)
	writeFile(t, dir+"/down", fmt.Sprintf("#!/bin/sh\necho \"$(date +%%s.%%N) BACKUP\" >> %s/events\n%sexit 0\n",
		dir, del), 0o755)
}

// scriptEvents reads dir/events as eventScripts' scripts write it.
func scriptEvents(dir string) func() []subEvent {
	return func() []subEvent {
		// Missing until the first transition.
		b, _ := os.ReadFile(dir + "/events")
		var out []subEvent
		for _, line := range strings.Split(string(b), "\n") {
			ts, state, ok := strings.Cut(line, " ")
			at, err := parseEpoch(ts)
			if !ok || err != nil {
				continue
			}
			out = append(out, subEvent{at: at, master: state == "MASTER"})
		}
		return out
	}
}

// parseEpoch reads seconds.fraction since the epoch (date +%s.%N,
// tcpdump -tt) without the rounding of a float64.
func parseEpoch(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if frac != "" {
		f := (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(f, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(secs, ns), nil
}

func subUcarp(t *testing.T, n *lab.Node, master bool) *subNode {
	t.Helper()
	dir := t.TempDir()
	eventScripts(t, n, dir, true)
	p := n.Start(t, lookPath(t, "ucarp"), "-i", n.Iface, "-s", n.IP4.Addr().String(), "-v", strconv.Itoa(subID),
		"-p", "s3cret", "-a", subVIP, "-b", "0", "-k", strconv.Itoa(pickInt(master, subMasterSkew, subBackupSkew)),
		"-u", dir+"/up", "-d", dir+"/down", "-n", "-z")
	return &subNode{n: n, daemon: p, events: scriptEvents(dir)}
}

func subKeepalived(interval time.Duration) func(*testing.T, *lab.Node, bool) *subNode {
	return func(t *testing.T, n *lab.Node, master bool) *subNode {
		t.Helper()
		dir := t.TempDir()
		eventScripts(t, n, dir, false)
		p := startKeepalivedProc(t, n, dir, subID, pickInt(master, subPrio, backupPrio), interval, subVIP, true)
		return &subNode{n: n, daemon: p, events: scriptEvents(dir)}
	}
}

// subsecond measures every sub-second setup; done is called after each,
// so that a run cut short keeps what it measured.
func subsecond(t *testing.T, carpd string, s *Subsecond, window time.Duration, prefixes []string, done func()) {
	for _, sys := range subSystems(carpd) {
		if !picked(prefixes, sys.name) {
			continue
		}
		w := window
		if sys.jitterOnly {
			w = min(w, jitterCap)
		}
		t.Run(fmt.Sprintf("subsecond/%s/%s", sys.name, sys.timer), func(t *testing.T) {
			st, tk, jt := subTrial(t, sys, w)
			s.Stability = append(s.Stability, st...)
			s.Takeovers = append(s.Takeovers, tk)
			s.Jitter = append(s.Jitter, jt...)
		})
		done()
	}
}

// subTrial starts a pair of sys with n1 preferred, watches it for window
// idle and for window with every core busy in another namespace of the
// lab, then kills the master's namespace and watches the takeover.
func subTrial(t *testing.T, sys subSystem, window time.Duration) ([]Stability, SubTakeover, []Jitter) {
	tk := SubTakeover{System: sys.name, Timer: sys.timer, TakeoverMS: -1, Error: "trial failed before the fault"}
	// n3 only burns CPU.
	l := lab.New(t, 3, lab.WithoutIPv6())
	vip := netip.MustParseAddr(subVIP)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	a := sys.start(t, n1, true)
	lab.Wait(t, 15*time.Second, "n1 answering ARP for the VIP", func() bool {
		mac, err := l.ARPOwner(vip, 100*time.Millisecond)
		return err == nil && mac.String() == n1.MAC.String()
	})
	capture := startCapture(t, n2, n1.IP4.Addr())
	b := sys.start(t, n2, false)
	// Many master-down intervals: n2 has heard n1 and settled as backup,
	// or has shown that it does not.
	time.Sleep(2 * time.Second)
	nodes := [2]*subNode{a, b}
	var stab []Stability
	var spans [][2]time.Time
	for _, load := range []string{"idle", "loaded"} {
		from, to, busy := watchWindow(t, l.Nodes[2], window, load == "loaded")
		spans = append(spans, [2]time.Time{from, to})
		r := Stability{System: sys.name, Timer: sys.timer, Setting: sys.setting, Load: load,
			WindowS: to.Sub(from).Seconds(), Busy: busy}
		for i, n := range nodes {
			ev := n.events()
			r.Entries[i] = entries(ev, from, to)
			if i == 1 {
				r.BackupMasterMS = ms(masterTime(ev, from, to))
			}
		}
		r.Spurious = r.Entries[0] + r.Entries[1]
		t.Logf("%s %s %s: %d spurious entries into MASTER (n1 %d, n2 %d) over %.0f s, n2 MASTER for %.0f ms",
			sys.name, sys.timer, load, r.Spurious, r.Entries[0], r.Entries[1], r.WindowS, r.BackupMasterMS)
		stab = append(stab, r)
	}
	adverts := capture.stop(t)
	var jit []Jitter
	for i, load := range []string{"idle", "loaded"} {
		j := jitter(adverts, spans[i][0], spans[i][1])
		j.System, j.Timer, j.Load, j.IntervalMS = sys.name, sys.timer, load, ms(sys.interval)
		t.Logf("%s %s %s: %d adverts from n1 at n2, gaps p50 %.1f ms, p99 %.1f ms, max %.1f ms (interval %.1f ms)",
			sys.name, sys.timer, load, j.Adverts, j.P50MS, j.P99MS, j.MaxMS, j.IntervalMS)
		jit = append(jit, j)
	}

	// Kill whichever node answers for the VIP: a flapping pair may have
	// n2 as master by now.
	master, other := 0, 1
	mac, err := l.ARPOwner(vip, 200*time.Millisecond)
	if err == nil && mac.String() == n2.MAC.String() {
		master, other = 1, 0
	}
	tk.Killed, tk.BoundMS, tk.Error = nodes[master].n.Name, ms(sys.down[other]), ""
	// A random wait puts the death anywhere in the advertisement cycle,
	// as in runTrial.
	time.Sleep(rand.N(sys.interval))
	start := time.Now()
	faults()[0].inject(t, &node{n: nodes[master].n, daemon: nodes[master].daemon})
	w, err := l.WatchTakeover(vip, nodes[other].n.MAC, start, subTakeoverLimit, probeEvery, settleAfter)
	if err != nil {
		t.Fatalf("probing ARP: %v", err)
	}
	if w.Took > 0 {
		tk.TakeoverMS = ms(w.Took)
	} else {
		tk.Error = fmt.Sprintf("no ARP answer from %s within %v; answers %v", nodes[other].n.Name,
			subTakeoverLimit, w.Owners)
	}
	tk.Flaps = w.Flaps()
	t.Logf("%s %s: %s killed, takeover %.0f ms vs master-down %.1f ms, flaps %d %s", sys.name, sys.timer,
		tk.Killed, tk.TakeoverMS, tk.BoundMS, tk.Flaps, tk.Error)
	return stab, tk, jit
}

// entries counts entries into MASTER in [from, to).
func entries(ev []subEvent, from, to time.Time) int {
	n := 0
	for _, e := range ev {
		if e.master && !e.at.Before(from) && e.at.Before(to) {
			n++
		}
	}
	return n
}

// masterTime is how long the node was MASTER within [from, to), from its
// transitions; before the first one it was not.
func masterTime(ev []subEvent, from, to time.Time) time.Duration {
	var sum time.Duration
	in, since := false, from
	for _, e := range ev {
		at := e.at
		if at.Before(from) {
			in = e.master
			continue
		}
		if !at.Before(to) {
			break
		}
		if in && !e.master {
			sum += at.Sub(since)
		}
		if !in && e.master {
			since = at
		}
		in = e.master
	}
	if in {
		sum += to.Sub(since)
	}
	return sum
}

// capture is tcpdump in a node's namespace printing the kernel's receive
// time of every advert from one source: scheduling delays of the harness
// do not enter these times, only the sender's.
type capture struct{ p *lab.Proc }

func startCapture(t *testing.T, n *lab.Node, src netip.Addr) *capture {
	t.Helper()
	p := n.Start(t, lookPath(t, "tcpdump"), "-i", n.Iface, "-n", "-tt", "-l", "-q", "-p", "--immediate-mode",
		"ip proto 112 and src host "+src.String())
	lab.Wait(t, 10*time.Second, "tcpdump listening", func() bool { return strings.Contains(p.Output(), "listening on") })
	return &capture{p: p}
}

// stop ends the capture and returns the receive times.
func (c *capture) stop(t *testing.T) []time.Time {
	t.Helper()
	if err := c.p.Stop(syscall.SIGTERM, 2*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}
	var out []time.Time
	for _, line := range strings.Split(c.p.Output(), "\n") {
		f, _, _ := strings.Cut(line, " ")
		if at, err := parseEpoch(f); err == nil && strings.Contains(line, " IP ") {
			out = append(out, at)
		}
	}
	return out
}

// jitter computes the order statistics of the gaps between adverts
// received within [from, to).
func jitter(at []time.Time, from, to time.Time) Jitter {
	var in []time.Time
	for _, a := range at {
		if !a.Before(from) && a.Before(to) {
			in = append(in, a)
		}
	}
	j := Jitter{WindowS: to.Sub(from).Seconds(), Adverts: len(in)}
	var gaps []float64
	for i := 1; i < len(in); i++ {
		gaps = append(gaps, ms(in[i].Sub(in[i-1])))
	}
	if len(gaps) == 0 {
		return j
	}
	slices.Sort(gaps)
	j.MinMS, j.P50MS, j.P99MS, j.MaxMS = gaps[0], rank(gaps, 50), rank(gaps, 99), gaps[len(gaps)-1]
	return j
}

// rank is the nearest-rank percentile p of sorted values.
func rank(sorted []float64, p int) float64 {
	r := (p*len(sorted) + 99) / 100
	return sorted[max(r, 1)-1]
}

// watchWindow waits out window, with a busy loop per core running in n
// when busy (the CPU starvation of the sub-second pairs and of the fault
// matrix), and returns the window's bounds and the number of loops.
func watchWindow(t *testing.T, n *lab.Node, window time.Duration, busy bool) (from, to time.Time, loops int) {
	t.Helper()
	var spin []*lab.Proc
	if busy {
		for range runtime.NumCPU() {
			spin = append(spin, n.Start(t, "sh", "-c", "while :; do :; done"))
		}
	}
	from = time.Now()
	time.Sleep(window)
	to = time.Now()
	for _, p := range spin {
		p.Kill()
	}
	return from, to, len(spin)
}

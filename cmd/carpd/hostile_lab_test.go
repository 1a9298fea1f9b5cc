//go:build linux

package main

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/lab"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Timers and sizes of the hostile lab: every system advertises every
// second, n1 preferred (CARP advskew 10, VRRP priority 150) over n2 (advskew
// 50, priority 100), so n2's master-down interval is at most 3 × 1 s +
// (256 − 100)/256 s ≈ 3.6 s.
const (
	hostileVIP   = "198.18.0.40"
	hostileID    = "40"
	hostileUser  = "carpd-probe-user"
	hostilePass  = "s3cret"
	hostilePW2   = "pw"
	floodRate    = 20 // adverts per second
	floodTime    = 3 * time.Second
	observeAfter = 4500 * time.Millisecond // longer than n2's master-down
	settleStable = 1500 * time.Millisecond
	settleLimit  = 20 * time.Second
	holderPoll   = 50 * time.Millisecond
)

// hostileAttack is one way the attacker uses a captured advert of the
// current master.
type hostileAttack struct {
	change lab.Change
	spoof  bool // from the master's address rather than the attacker's
	flood  bool // floodRate a second for floodTime instead of once
}

func (a hostileAttack) String() string {
	s := a.change.String()
	if a.flood {
		s = "flood " + s
	}
	if a.spoof {
		return s + ", spoofed master source"
	}
	return s + ", attacker's source"
}

func hostileAttacks() []hostileAttack {
	var out []hostileAttack
	for _, flood := range []bool{false, true} {
		for _, c := range []lab.Change{lab.Unchanged, lab.Best, lab.BowOut} {
			if flood && c == lab.Unchanged {
				continue // the probe bait is that flood
			}
			for _, spoof := range []bool{false, true} {
				out = append(out, hostileAttack{change: c, spoof: spoof, flood: flood})
			}
		}
	}
	return out
}

// hostilePair is a system running on n1 and n2.
type hostilePair struct {
	nodes [2]*lab.Node
	// transitions returns how many state changes node i has made so far.
	transitions func(i int) int
	// carpd is set for carpd pairs: drops and probes come from its status.
	carpd [2]*carpdProc
	// note says how the pair differs from what was asked, if it does.
	note string
}

// drops returns node i's drop counters, the router's and its sockets'
// together; nil for other systems.
func (p *hostilePair) drops(i int) map[string]int {
	c := p.carpd[i]
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, c.dir, control.Request{Op: "status"})
	if err != nil || resp.Status == nil {
		return nil
	}
	out := map[string]int{}
	add := func(m map[string]uint64) {
		for k, v := range m {
			out[k] += int(v)
		}
	}
	for _, r := range resp.Status.Routers {
		add(r.Counters.Dropped)
	}
	for _, s := range resp.Status.Sockets {
		add(s.Dropped)
	}
	return out
}

// hostileSystem is one implementation the attacks run against.
type hostileSystem struct {
	name string
	// start brings the pair up; n1 is master when it returns.
	start func(t *testing.T, l *lab.Lab, atk *lab.Attacker, rogue *lab.RogueBroker) *hostilePair
}

// attackResult is what one attack did to a pair.
type attackResult struct {
	attack      hostileAttack
	sent        int
	master      int // index of the node holding the VIP before
	after       int // index holding it after; -1 none, 2 both
	transitions [2]int
	twoMasters  time.Duration // time both held the VIP
	noMaster    time.Duration // time neither held it
	drops       [2]map[string]int
	connects    []lab.Connect // CONNECTs with carpd's user name
	err         error         // the attack could not be run
}

// vipWatch reads, through netlink handles in the nodes' namespaces, which
// nodes hold the VIP.
type vipWatch struct {
	h   [2]*netlink.Handle
	vip netip.Addr
}

func newVIPWatch(t *testing.T, nodes [2]*lab.Node, vip netip.Addr) *vipWatch {
	t.Helper()
	w := &vipWatch{vip: vip}
	for i, n := range nodes {
		ns, err := netns.GetFromName(n.NS)
		if err != nil {
			t.Fatal(err)
		}
		h, err := netlink.NewHandleAt(ns)
		ns.Close()
		if err != nil {
			t.Fatalf("netlink handle in %s: %v", n.Name, err)
		}
		t.Cleanup(h.Close)
		w.h[i] = h
	}
	return w
}

// holders returns which nodes hold the VIP.
func (w *vipWatch) holders() [2]bool {
	var out [2]bool
	for i, h := range w.h {
		addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == w.vip {
				out[i] = true
			}
		}
	}
	return out
}

// holder is the index of the one holder, -1 for none, 2 for both.
func holder(h [2]bool) int {
	switch {
	case h[0] && h[1]:
		return 2
	case h[0]:
		return 0
	case h[1]:
		return 1
	}
	return -1
}

// settle waits until exactly one node has held the VIP for settleStable
// and returns it, or -1 after settleLimit.
func (w *vipWatch) settle() int {
	deadline := time.Now().Add(settleLimit)
	cur, since := -2, time.Now()
	for time.Now().Before(deadline) {
		h := holder(w.holders())
		if h != cur {
			cur, since = h, time.Now()
		}
		if (cur == 0 || cur == 1) && time.Since(since) >= settleStable {
			return cur
		}
		time.Sleep(holderPoll)
	}
	return -1
}

// watch polls until stop is closed and returns how long both nodes held
// the VIP and how long neither did.
func (w *vipWatch) watch(stop <-chan struct{}) (both, none time.Duration) {
	last := time.Now()
	for {
		h := w.holders()
		now := time.Now()
		switch holder(h) {
		case 2:
			both += now.Sub(last)
		case -1:
			none += now.Sub(last)
		}
		last = now
		select {
		case <-stop:
			return both, none
		case <-time.After(holderPoll):
		}
	}
}

// runAttacks runs every attack in turn on a settled pair.
func runAttacks(t *testing.T, p *hostilePair, atk *lab.Attacker, rogue *lab.RogueBroker, w *vipWatch) []attackResult {
	t.Helper()
	var out []attackResult
	for _, a := range hostileAttacks() {
		r := runAttack(p, atk, rogue, w, a)
		t.Logf("%v: sent %d, holder %d→%d, transitions %v, two masters %v, no master %v, drops %v / %v, "+
			"connects %v, err %v", a, r.sent, r.master, r.after, r.transitions, r.twoMasters.Round(time.Millisecond),
			r.noMaster.Round(time.Millisecond), r.drops[0], r.drops[1], r.connects, r.err)
		out = append(out, r)
	}
	return out
}

func runAttack(p *hostilePair, atk *lab.Attacker, rogue *lab.RogueBroker, w *vipWatch, a hostileAttack) attackResult {
	r := attackResult{attack: a}
	if r.master = w.settle(); r.master < 0 {
		r.err = fmt.Errorf("no single VIP holder for %v before the attack", settleLimit)
		return r
	}
	var trans0 [2]int
	var drops0 [2]map[string]int
	for i := range 2 {
		trans0[i], drops0[i] = p.transitions(i), p.drops(i)
	}
	connects0 := len(carpdConnects(rogue))
	master := p.nodes[r.master].IP4.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	ad, err := atk.Capture(ctx, master)
	cancel()
	if err != nil {
		r.err = err
		return r
	}
	src := atk.Node.IP4.Addr()
	if a.spoof {
		src = master
	}
	payload, err := lab.Forge(ad, src, a.change)
	if err != nil {
		r.err = err
		return r
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.twoMasters, r.noMaster = w.watch(stop)
	}()
	if a.flood {
		fctx, fcancel := context.WithTimeout(context.Background(), floodTime+5*time.Second)
		r.sent, r.err = atk.Flood(fctx, payload, src, floodRate, floodTime)
		fcancel()
	} else if r.err = atk.Send(payload, src); r.err == nil {
		r.sent = 1
	}
	time.Sleep(observeAfter)
	close(stop)
	wg.Wait()

	r.after = holder(w.holders())
	for i := range 2 {
		r.transitions[i] = p.transitions(i) - trans0[i]
		if d := p.drops(i); d != nil {
			r.drops[i] = map[string]int{}
			for k, v := range d {
				if v > drops0[i][k] {
					r.drops[i][k] = v - drops0[i][k]
				}
			}
		}
	}
	r.connects = carpdConnects(rogue)[connects0:]
	return r
}

// carpdConnects are the CONNECTs the rogue broker saw with carpd's user
// name.
func carpdConnects(rogue *lab.RogueBroker) []lab.Connect {
	var out []lab.Connect
	for _, c := range rogue.Connects() {
		if c.Username == hostileUser {
			out = append(out, c)
		}
	}
	return out
}

// hostileCarpdYAML is node n's configuration: a supervised mosquitto
// whose probe has no configured peer, with carpd's credentials, and one
// router.
func hostileCarpdYAML(t *testing.T, n *lab.Node, proto string, master bool, acceptFrom []netip.Addr) string {
	t.Helper()
	dir := t.TempDir()
	conf := writeMosquittoConf(t, dir, netip.AddrPortFrom(n.IP4.Addr(), 1883))
	router := ""
	switch proto {
	case "carp":
		router = fmt.Sprintf("    proto: carp\n    vhid: %s\n    advbase: 1\n    advskew: %s\n    password: %s\n",
			hostileID, pick(master, "10", "50"), hostilePass)
	case "vrrp2":
		router = fmt.Sprintf("    proto: vrrp2\n    vrid: %s\n    interval: 1s\n    priority: %s\n    password: %s\n",
			hostileID, pick(master, "150", "100"), hostilePW2)
	default:
		router = fmt.Sprintf("    proto: vrrp3\n    vrid: %s\n    interval: 1s\n    priority: %s\n",
			hostileID, pick(master, "150", "100"))
	}
	if len(acceptFrom) > 0 {
		var s []string
		for _, a := range acceptFrom {
			s = append(s, a.String())
		}
		router += "    accept_from: [" + strings.Join(s, ", ") + "]\n"
	}
	yaml := fmt.Sprintf(`broker:
  config: %s
  username: %s
  password: hostile-secret
  nat: none
  ready_timeout: 5s
  stop_timeout: 2s
  probe: {topic: home/carpd-probe, interval: 1s, deadline: 800ms}
routers:
  - name: mqtt
    iface: %s
%s    vips: [%s]
`, conf, hostileUser, n.Iface, router, hostileVIP)
	path := filepath.Join(dir, "carpd.yaml")
	writeFile(t, path, yaml)
	return path
}

// startHostileCarpd starts carpd on n and waits until it answers status;
// it returns an error with carpd's log if carpd exits first, as carpd
// refuses a configuration key it does not know.
func startHostileCarpd(t *testing.T, n *lab.Node, yaml string) (*carpdProc, error) {
	t.Helper()
	c := startCarpd(t, n, "", "-c", yaml)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.Done():
			return nil, fmt.Errorf("carpd on %s exited: %s", n.Name, withoutWarnings(c.Output()))
		default:
		}
		if _, err := c.status(); err == nil {
			return c, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("carpd on %s does not answer status after 10 s", n.Name)
}

// withoutWarnings is carpd's output without its configuration warnings,
// which come before the error that stopped it.
func withoutWarnings(out string) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "carpd: warning:") && !strings.HasPrefix(line, "  ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "; ")
}

// carpdSystem runs carpd with proto; with accept, the routers accept
// adverts only from n1 and n2. fallback lets a measurement run without
// accept_from when carpd refuses it (before the key exists), noting it.
func carpdSystem(name, proto string, accept, fallback bool) hostileSystem {
	return hostileSystem{name: name, start: func(t *testing.T, l *lab.Lab, atk *lab.Attacker,
		rogue *lab.RogueBroker) *hostilePair {
		t.Helper()
		n1, n2 := l.Nodes[0], l.Nodes[1]
		var acceptFrom []netip.Addr
		if accept {
			acceptFrom = []netip.Addr{n1.IP4.Addr(), n2.IP4.Addr()}
		}
		p := &hostilePair{nodes: [2]*lab.Node{n1, n2}}
		a, err := startHostileCarpd(t, n1, hostileCarpdYAML(t, n1, proto, true, acceptFrom))
		if err != nil && accept && fallback {
			p.note = "accept_from refused (" + err.Error() + "): run without it"
			t.Log(p.note)
			acceptFrom = nil
			a, err = startHostileCarpd(t, n1, hostileCarpdYAML(t, n1, proto, true, nil))
		}
		if err != nil {
			t.Fatal(err)
		}
		a.waitState(t, "MASTER", 10*time.Second)
		// The probe bait: n2's probe learns its peer from the adverts
		// it accepts, so replays of n1's advert from the attacker's
		// address while n2 starts point it at the rogue broker.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		ad, err := atk.Capture(ctx, n1.IP4.Addr())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		bait, err := lab.Forge(ad, atk.Node.IP4.Addr(), lab.Unchanged)
		if err != nil {
			t.Fatal(err)
		}
		baitDone := make(chan error, 1)
		go func() {
			fctx, fcancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer fcancel()
			_, err := atk.Flood(fctx, bait, atk.Node.IP4.Addr(), 10, 8*time.Second)
			baitDone <- err
		}()
		b, err := startHostileCarpd(t, n2, hostileCarpdYAML(t, n2, proto, false, acceptFrom))
		if err != nil {
			t.Fatal(err)
		}
		if err := <-baitDone; err != nil {
			t.Fatal(err)
		}
		// The probe dials at its first interval once it has a peer.
		time.Sleep(3 * time.Second)
		p.carpd = [2]*carpdProc{a, b}
		p.transitions = func(i int) int {
			st, err := p.carpd[i].status()
			if err != nil {
				return -1
			}
			return int(st.Counters.Transitions)
		}
		return p
	}}
}

func ucarpSystem() hostileSystem {
	return hostileSystem{name: "ucarp", start: func(t *testing.T, l *lab.Lab, _ *lab.Attacker,
		_ *lab.RogueBroker) *hostilePair {
		t.Helper()
		ucarp := lookPath(t, "ucarp")
		p := &hostilePair{nodes: [2]*lab.Node{l.Nodes[0], l.Nodes[1]}}
		var calls [2]func() []string
		for i, n := range p.nodes {
			up, down, c := ucarpScripts(t, true)
			calls[i] = c
			n.Start(t, append([]string{ucarp}, carpArgs(n, hostileID, pick(i == 0, "10", "50"), hostilePass,
				hostileVIP, "-u", up, "-d", down, "-n", "-z")...)...)
			if i == 0 {
				lab.Wait(t, 10*time.Second, "ucarp n1 up", func() bool { return len(c()) > 0 })
			}
		}
		p.transitions = func(i int) int { return len(calls[i]()) }
		return p
	}}
}

func keepalivedSystem(version int, pass string) hostileSystem {
	name := fmt.Sprintf("keepalived VRRPv%d", version)
	if pass != "" {
		name += " PASS"
	}
	return hostileSystem{name: name, start: func(t *testing.T, l *lab.Lab, _ *lab.Attacker,
		_ *lab.RogueBroker) *hostilePair {
		t.Helper()
		p := &hostilePair{nodes: [2]*lab.Node{l.Nodes[0], l.Nodes[1]}}
		var procs [2]*lab.Proc
		vip := netip.MustParseAddr(hostileVIP)
		for i, n := range p.nodes {
			procs[i] = startKeepalived(t, n, keepalivedConf(t, version, 150-50*i, hostileID, hostileVIP, pass))
			if i == 0 {
				lab.Wait(t, 10*time.Second, "keepalived n1 master", func() bool { return n.HasAddr(vip) })
			}
		}
		p.transitions = func(i int) int {
			out := procs[i].Output()
			return strings.Count(out, "Entering MASTER STATE") + strings.Count(out, "Entering BACKUP STATE")
		}
		return p
	}}
}

// runHostile builds a lab with the attacker and its rogue broker on the
// client, starts sys and runs every attack. It returns the pair, the
// results, and the CONNECTs with carpd's user name seen while the pair
// started (the probe bait).
func runHostile(t *testing.T, sys hostileSystem) (*hostilePair, []attackResult, []lab.Connect) {
	t.Helper()
	l := lab.New(t, 2, lab.WithoutIPv6())
	atk := l.Client.Attacker(t)
	rogue := l.Client.RogueBroker(t)
	p := sys.start(t, l, atk, rogue)
	bait := carpdConnects(rogue)
	w := newVIPWatch(t, p.nodes, netip.MustParseAddr(hostileVIP))
	return p, runAttacks(t, p, atk, rogue, w), bait
}

// checkNoEffect asserts that an attack moved nothing and was dropped for
// one of the reasons want(i) on every node i that received it (the master
// never receives a packet with its own source address: the kernel drops it
// as a martian before any socket sees it).
func checkNoEffect(t *testing.T, r attackResult, want func(i int) []string) {
	t.Helper()
	if r.err != nil {
		t.Errorf("%v: %v", r.attack, r.err)
		return
	}
	if r.transitions != [2]int{} || r.after != r.master || r.twoMasters > 0 || r.noMaster > 0 {
		t.Errorf("%v: transitions %v, VIP on %d then %d, two masters for %v, none for %v; want no change",
			r.attack, r.transitions, r.master, r.after, r.twoMasters, r.noMaster)
	}
	for i := range 2 {
		if r.attack.spoof && i == r.master {
			continue
		}
		n := 0
		for _, reason := range want(i) {
			n += r.drops[i][reason]
		}
		if n < 1 {
			t.Errorf("%v: node %d counted drops %v, want %q", r.attack, i+1, r.drops[i], want(i))
		}
	}
	if len(r.connects) > 0 {
		t.Errorf("%v: the rogue broker saw carpd's credentials: %v", r.attack, r.connects)
	}
}

// TestLabHostileCARP: against two carpd CARP nodes with a password, no
// replay of a captured advert, changed or not, from the attacker's
// address or spoofed from the master's, single or flooded, moves the VIP
// or changes a state; each is dropped as a replay, and the backup's
// bridge probe never takes the attacker for its peer.
func TestLabHostileCARP(t *testing.T) {
	t.Parallel()
	_, results, bait := runHostile(t, carpdSystem("carpd CARP", "carp", false, false))
	if len(bait) > 0 {
		t.Errorf("the backup's probe connected to the rogue broker with carpd's credentials: %v", bait)
	}
	for _, r := range results {
		// The master knows its own counter: OpenBSD ip_carp.c
		// carp_input drops it as a loop, before any replay check.
		checkNoEffect(t, r, func(i int) []string {
			if i == r.master {
				return []string{"replay", "loop"}
			}
			return []string{"replay"}
		})
	}
}

// TestLabHostileVRRP: carpd VRRPv2 with a PASS password and VRRPv3, both
// with accept_from listing the two nodes: attacks from the attacker's own
// address change nothing and are dropped as "source". Spoofed ones carry
// a member's address and the same password in clear (v2) or nothing (v3),
// so no receiver can tell them apart: they are logged, not checked.
func TestLabHostileVRRP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, proto string }{
		{"vrrp2", "vrrp2"},
		{"vrrp3", "vrrp3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, results, bait := runHostile(t, carpdSystem("carpd "+tc.proto, tc.proto, true, false))
			if len(bait) > 0 {
				t.Errorf("the backup's probe connected to the rogue broker with carpd's credentials: %v", bait)
			}
			for _, r := range results {
				if !r.attack.spoof {
					checkNoEffect(t, r, func(int) []string { return []string{"source"} })
				}
			}
		})
	}
}

// hostileSystems are the rows of the measurement.
func hostileSystems() []hostileSystem {
	return []hostileSystem{
		carpdSystem("carpd CARP", "carp", false, true),
		carpdSystem("carpd VRRPv2 PASS + accept_from", "vrrp2", true, true),
		carpdSystem("carpd VRRPv3 + accept_from", "vrrp3", true, true),
		ucarpSystem(),
		keepalivedSystem(2, hostilePW2),
		keepalivedSystem(3, ""),
	}
}

// hostileSystemsMatching filters the systems by CARPD_HOSTILE_SYSTEMS, a
// comma-separated list of name prefixes; all when unset.
func hostileSystemsMatching(filter string) []hostileSystem {
	all := hostileSystems()
	if filter == "" {
		return all
	}
	var out []hostileSystem
	for _, s := range all {
		for _, f := range strings.Split(filter, ",") {
			if f = strings.TrimSpace(f); f != "" && strings.HasPrefix(s.name, f) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// sumDrops adds the two nodes' drop counters.
func sumDrops(d [2]map[string]int) map[string]int {
	out := maps.Clone(d[0])
	if out == nil {
		out = map[string]int{}
	}
	for k, v := range d[1] {
		out[k] += v
	}
	return out
}

// hostileOutEnv opts in to TestMeasureHostile and names its Markdown
// output; hostileSystemsEnv picks systems by name prefix.
const (
	hostileOutEnv     = "CARPD_HOSTILE_OUT"
	hostileSystemsEnv = "CARPD_HOSTILE_SYSTEMS"
)

// TestMeasureHostile runs every attack against carpd, ucarp and keepalived
// and writes the attack table. It is a measurement, not a check: it runs
// only when asked.
func TestMeasureHostile(t *testing.T) {
	out := os.Getenv(hostileOutEnv)
	if out == "" {
		t.Skipf("opt-in measurement: run it with %s=$PWD/hostile.md [%s='ucarp,keepalived'] go test -count=1 "+
			"-timeout 30m -run '^TestMeasureHostile$' -v ./cmd/carpd/", hostileOutEnv, hostileSystemsEnv)
	}
	if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
		t.Fatalf("%s=%s: no directory %s here (%v); a relative path is relative to cmd/carpd, pass an "+
			"absolute one", hostileOutEnv, out, filepath.Dir(out), err)
	}
	started := time.Now()
	var rows []hostileRows
	for _, sys := range hostileSystemsMatching(os.Getenv(hostileSystemsEnv)) {
		t.Run(sys.name, func(t *testing.T) {
			p, results, bait := runHostile(t, sys)
			rows = append(rows, hostileRows{system: sys.name, note: p.note, carpd: p.carpd[0] != nil,
				bait: bait, results: results})
		})
	}
	md := hostileReport(rows, started, time.Since(started))
	t.Logf("attack table:\n%s", md)
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
}

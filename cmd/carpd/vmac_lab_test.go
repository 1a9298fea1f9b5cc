//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/daemon"
	"github.com/carpd/carpd/internal/lab"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
)

// advertMACs returns the source MACs of the IPv4 protocol 112 frames the
// lab's client sees within wait, at most max of them.
func advertMACs(t *testing.T, l *lab.Lab, wait time.Duration, max int) []string {
	t.Helper()
	return advertMACsOf(t, l, false, wait, max)
}

// advertMACs6 is advertMACs for IPv6.
func advertMACs6(t *testing.T, l *lab.Lab, wait time.Duration, max int) []string {
	t.Helper()
	return advertMACsOf(t, l, true, wait, max)
}

// advertMACsOf reads the client's frames of one family for advertMACs.
func advertMACsOf(t *testing.T, l *lab.Lab, v6 bool, wait time.Duration, max int) []string {
	t.Helper()
	etype, hdr, protoAt := ethernet.EtherTypeIPv4, 20, 9
	if v6 {
		etype, hdr, protoAt = ethernet.EtherTypeIPv6, 40, 6
	}
	var macs []string
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, err := packet.Listen(ifi, packet.Raw, int(etype), nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		for len(macs) < max {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return nil // the deadline
			}
			var f ethernet.Frame
			if f.UnmarshalBinary(buf[:n]) == nil && len(f.Payload) >= hdr && f.Payload[protoAt] == 112 {
				macs = append(macs, f.Source.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return macs
}

// arpAnswers sends one ARP request for vip from the lab's client and
// returns every MAC that answered within wait, so that a second answer
// (a backup answering too) shows.
func arpAnswers(t *testing.T, l *lab.Lab, vip netip.Addr, wait time.Duration) []string {
	t.Helper()
	var macs []string
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Request(vip); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		for range 16 {
			p, _, err := c.Read()
			if err != nil {
				return nil // the deadline
			}
			// Only answers to us: a gratuitous reply is broadcast.
			if p.Operation == arp.OperationReply && p.SenderIP == vip && p.TargetIP == l.Client.IP4.Addr() {
				macs = append(macs, p.SenderHardwareAddr.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return macs
}

// linkState returns whether name exists in n and whether it is up.
func linkState(t *testing.T, n *lab.Node, name string) (exists, up bool) {
	t.Helper()
	out, err := n.Run(t.Context(), "ip", "-o", "link", "show", "dev", name)
	if err != nil {
		return false, false
	}
	flags := strings.SplitN(string(out), "<", 2)
	return true, len(flags) == 2 && strings.Contains(strings.SplitN(flags[1], ">", 2)[0], ",UP")
}

// ipv4Conf reads /proc/sys/net/ipv4/conf/IFACE/NAME in n.
func ipv4Conf(t *testing.T, n *lab.Node, iface, name string) string {
	t.Helper()
	var b []byte
	err := n.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/sys/net/ipv4/conf/" + iface + "/" + name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// fdbPort returns the switch port the bridge has learnt mac on, "" when
// none.
func fdbPort(t *testing.T, l *lab.Lab, mac string) string {
	t.Helper()
	out, err := l.Switch.Run(t.Context(), "bridge", "fdb", "show", "br", l.Switch.Iface)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == mac && f[1] == "dev" {
			return f[2]
		}
	}
	return ""
}

// portOf is the switch port of node n (lab: n1 on p1, ...).
func portOf(n *lab.Node) string { return "p" + strings.TrimPrefix(n.Name, "n") }

// TestLabVMAC: with --vmac the master holds the VIP on vrrp.7, up, and
// answers ARP with 00:00:5e:00:01:07; the backup's vrrp.7 is down and
// answers nothing; the switch learns the virtual MAC on the master's
// port from its adverts, and on the new master's after a handover. A
// SIGTERM deletes the child and restores the parent's ARP settings; after
// a SIGKILL the next run reuses the child it finds, still up with the VIP.
func TestLabVMAC(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.7")
	const vmac = "00:00:5e:00:01:07"
	origIgnore, origFilter := ipv4Conf(t, n1, n1.Iface, "arp_ignore"), ipv4Conf(t, n1, n1.Iface, "arp_filter")
	a := startCarpd(t, n1, "", vrrpArgs(n1, "7", "200", vip.String(), "--vmac")...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", vrrpArgs(n2, "7", "100", vip.String(), "--vmac")...)
	b.waitState(t, "BACKUP", 5*time.Second)

	for _, c := range []struct {
		n      *lab.Node
		up     bool
		hasVIP bool
	}{{n1, true, true}, {n2, false, false}} {
		ex, up := linkState(t, c.n, "vrrp.7")
		if !ex || up != c.up {
			t.Errorf("%s: vrrp.7 exists %v up %v, want up %v", c.n.Name, ex, up, c.up)
		}
		if got := c.n.HasAddr(vip); got != c.hasVIP {
			t.Errorf("%s holds the VIP: %v, want %v", c.n.Name, got, c.hasVIP)
		}
		for _, kv := range [][3]string{{c.n.Iface, "arp_ignore", "1"}, {c.n.Iface, "arp_filter", "1"}, {c.n.Iface, "arp_announce", "2"},
			{"vrrp.7", "arp_ignore", "1"}, {"vrrp.7", "rp_filter", "0"}, {"vrrp.7", "arp_filter", "0"}} {
			if got := ipv4Conf(t, c.n, kv[0], kv[1]); got != kv[2] {
				t.Errorf("%s: %s %s = %s, want %s", c.n.Name, kv[0], kv[1], got, kv[2])
			}
		}
	}
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("ARP answers for %v: %v, want only %s", vip, got, vmac)
	}
	lab.Wait(t, 2*time.Second, "switch learning "+vmac+" on n1's port", func() bool { return fdbPort(t, l, vmac) == portOf(n1) })
	// RFC 5798 §7.3: the adverts carry the virtual MAC.
	if got := advertMACs(t, l, time.Second, 3); len(got) == 0 || slices.ContainsFunc(got, func(m string) bool { return m != vmac }) {
		t.Errorf("adverts from %v, want all from %s", got, vmac)
	}

	// The VIP removed from the child behind carpd's back comes back.
	if _, err := n1.Run(t.Context(), "ip", "addr", "del", vip.String()+"/32", "dev", "vrrp.7"); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 3*time.Second, "VIP back on n1's vrrp.7", func() bool { return n1.HasAddr(vip) })

	start := time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, "MASTER", 5*time.Second)
	lab.Wait(t, 2*time.Second, "switch learning "+vmac+" on n2's port", func() bool { return fdbPort(t, l, vmac) == portOf(n2) })
	t.Logf("handover to n2 and the switch learning its port: %v", time.Since(start).Round(time.Millisecond))
	if err := a.Wait(t.Context()); err != nil {
		t.Errorf("n1 carpd: %v", err)
	}
	if ex, _ := linkState(t, n1, "vrrp.7"); ex {
		t.Error("n1's vrrp.7 is still there after SIGTERM")
	}
	if i, f := ipv4Conf(t, n1, n1.Iface, "arp_ignore"), ipv4Conf(t, n1, n1.Iface, "arp_filter"); i != origIgnore || f != origFilter {
		t.Errorf("n1 eth0 arp_ignore %s arp_filter %s after exit, want %s %s as before", i, f, origIgnore, origFilter)
	}
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("ARP answers for %v after the handover: %v, want only %s", vip, got, vmac)
	}

	// SIGKILL leaves the child up with the VIP, the parent's settings
	// changed; the next run takes them over and restores the settings
	// saved by the first.
	if err := b.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Wait(t.Context())
	if ex, up := linkState(t, n2, "vrrp.7"); !ex || !up || !n2.HasAddr(vip) {
		t.Fatalf("after SIGKILL n2's vrrp.7 exists %v up %v VIP %v: the leftover test needs it", ex, up, n2.HasAddr(vip))
	}
	b2 := startCarpd(t, n2, b.dir, vrrpArgs(n2, "7", "100", vip.String(), "--vmac")...)
	b2.waitState(t, "MASTER", 5*time.Second)
	if out := readLog(t, b2); !strings.Contains(out, "reusing the vmac interface") || !strings.Contains(out, "restoring from the settings an earlier run saved") {
		t.Errorf("restarted carpd did not log the reuse; log:\n%s", out)
	}
	if err := b2.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b2.Wait(t.Context()); err != nil {
		t.Errorf("n2 carpd: %v", err)
	}
	if ex, _ := linkState(t, n2, "vrrp.7"); ex {
		t.Error("n2's vrrp.7 is still there after SIGTERM")
	}
	if i := ipv4Conf(t, n2, n2.Iface, "arp_ignore"); i != origIgnore {
		t.Errorf("n2 eth0 arp_ignore %s after exit, want %s as before the first run", i, origIgnore)
	}
}

// ignoreGARP makes the lab's client deaf to gratuitous ARP for vip, as
// many small devices are: its nft arp table drops every ARP packet whose
// target protocol address is vip (gratuitous requests and replies alike),
// so it learns vip's MAC only from answers to its own requests, whose
// target is the client. It returns a reader of the rule's counter.
func ignoreGARP(t *testing.T, l *lab.Lab, vip netip.Addr) func() int {
	t.Helper()
	for _, argv := range [][]string{
		{"nft", "add", "table", "arp", "deaf"},
		{"nft", "add", "chain", "arp", "deaf", "in", "{ type filter hook input priority 0; }"},
		{"nft", "add", "rule", "arp", "deaf", "in", "arp", "daddr", "ip", vip.String(), "counter", "drop"},
	} {
		if out, err := l.Client.Run(t.Context(), argv...); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	return func() int {
		out, err := l.Client.Run(t.Context(), "nft", "list", "chain", "arp", "deaf", "in")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "packets" {
				n, _ := strconv.Atoi(f[i+1])
				return n
			}
		}
		return -1
	}
}

// ignoreNA is ignoreGARP for IPv6: the client's nft ip6 table drops
// every neighbour advertisement sent to all nodes (ff02::1), which is
// where unsolicited ones go (RFC 4861 §7.2.6), so it learns the VIP's MAC
// only from solicited answers to its own solicitations, sent to it.
func ignoreNA(t *testing.T, l *lab.Lab) func() int {
	t.Helper()
	for _, argv := range [][]string{
		{"nft", "add", "table", "ip6", "deaf"},
		{"nft", "add", "chain", "ip6", "deaf", "in", "{ type filter hook input priority 0; }"},
		{"nft", "add", "rule", "ip6", "deaf", "in", "ip6", "daddr", "ff02::1", "icmpv6", "type", "nd-neighbor-advert", "counter", "drop"},
	} {
		if out, err := l.Client.Run(t.Context(), argv...); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	return func() int {
		out, err := l.Client.Run(t.Context(), "nft", "list", "chain", "ip6", "deaf", "in")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "packets" {
				n, _ := strconv.Atoi(f[i+1])
				return n
			}
		}
		return -1
	}
}

// setNeigh sets the client's eth0 neighbour parameters (sysctl
// net.ipv4.neigh.eth0.NAME, or ipv6 with v6).
func setNeigh(t *testing.T, n *lab.Node, v6 bool, name, value string) {
	t.Helper()
	fam := "ipv4"
	if v6 {
		fam = "ipv6"
	}
	path := "/proc/sys/net/" + fam + "/neigh/" + n.Iface + "/" + name
	if err := n.Do(func() error { return os.WriteFile(path, []byte(value), 0o644) }); err != nil {
		t.Fatal(err)
	}
}

// reach tries a TCP connection from the lab's client to vip port 9 every
// 50 ms (each attempt bounded by 100 ms) and sends the time of every
// answer (a refusal: nothing listens, the holder of vip answers with a
// reset) on the channel until stop is closed.
func reach(t *testing.T, l *lab.Lab, vip netip.Addr, stop <-chan struct{}) <-chan time.Time {
	ch := make(chan time.Time, 4096)
	go func() {
		defer close(ch)
		_ = l.Client.Do(func() error {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return nil
				case <-tick.C:
				}
				c, err := net.DialTimeout("tcp", netip.AddrPortFrom(vip, 9).String(), 100*time.Millisecond)
				if c != nil {
					c.Close()
				}
				if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
					select {
					case ch <- time.Now():
					default:
					}
				}
			}
		})
	}()
	return ch
}

// deafPeer is what runs on the two nodes of a GARP-deaf trial.
type deafPeer int

const (
	deafPlain              deafPeer = iota // carpd without vmac
	deafVMAC                               // carpd --vmac
	deafKeepalived                         // keepalived use_vmac
	deafKeepalivedAnnounce                 // keepalived use_vmac, arp_announce=2 set by hand
)

// deafPeers are the rows of TestLabVMACGARPDeafClient's table.
var deafPeers = []deafPeer{deafPlain, deafVMAC, deafKeepalived, deafKeepalivedAnnounce}

func (p deafPeer) String() string {
	return [...]string{"carpd", "carpd vmac", "keepalived use_vmac", "keepalived use_vmac arp_announce=2"}[p]
}

// deafNode is one node's VRRP speaker in a GARP-deaf trial.
type deafNode struct {
	n    *lab.Node
	c    *carpdProc // carpd
	k    *lab.Proc  // keepalived's parent process
	kRun string     // keepalived's pid files
}

// startDeafNode starts p's speaker on n for VRRPv3 router vrid, 200 ms
// adverts, priority prio.
func startDeafNode(t *testing.T, p deafPeer, n *lab.Node, vrid, prio int, vip netip.Addr) *deafNode {
	t.Helper()
	d := &deafNode{n: n}
	id, pr := strconv.Itoa(vrid), strconv.Itoa(prio)
	switch p {
	case deafPlain:
		d.c = startCarpd(t, n, "", vrrpArgs(n, id, pr, vip.String())...)
	case deafVMAC:
		d.c = startCarpd(t, n, "", vrrpArgs(n, id, pr, vip.String(), "--vmac")...)
	case deafKeepalived, deafKeepalivedAnnounce:
		if p == deafKeepalivedAnnounce {
			// What an administrator adds by hand (sysctl): keepalived 2.2.7
			// sets arp_ignore and arp_filter on the base interface of
			// use_vmac, not arp_announce (docs/vmac.md).
			err := n.Do(func() error {
				return os.WriteFile("/proc/sys/net/ipv4/conf/"+n.Iface+"/arp_announce", []byte("2"), 0o644)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// advert_int 0.2: VRRPv3 counts in centiseconds (RFC 5798 §5.2.7),
		// the timers of vrrpArgs.
		path := keepalivedConf(t, 3, prio, id, vip.String(), "")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.Replace(string(b), "  priority", "  use_vmac\n  priority", 1)
		writeFile(t, path, strings.Replace(conf, "advert_int 1", "advert_int 0.2", 1))
		d.kRun = t.TempDir()
		d.k = n.Start(t, lookPath(t, "keepalived"), "--vrrp", "--dont-fork", "--log-console", "--log-detail",
			"--use-file", path, "--pid", d.kRun+"/k.pid", "--vrrp_pid", d.kRun+"/v.pid", "--checkers_pid", d.kRun+"/c.pid")
	}
	return d
}

// waitMaster waits until d's speaker is master and holds vip.
func (d *deafNode) waitMaster(t *testing.T, vip netip.Addr, within time.Duration) {
	t.Helper()
	if d.c != nil {
		d.c.waitState(t, "MASTER", within)
	}
	lab.Wait(t, within, d.n.Name+" holding "+vip.String(), func() bool { return d.n.HasAddr(vip) })
}

// fault makes d's node leave: "kill" (node death: its switch port down,
// then its speaker SIGKILLed, keepalived's VRRP child as well, whose
// parent would restart it) or "term" (planned handover: SIGTERM, the
// speaker bows out with priority 0).
func (d *deafNode) fault(t *testing.T, kind string) {
	t.Helper()
	sig := syscall.SIGTERM
	if kind == "kill" {
		d.n.LinkDown()
		sig = syscall.SIGKILL
	}
	p := d.k
	if d.c != nil {
		p = d.c.Proc
	}
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if d.k != nil && kind == "kill" {
		// keepalived's VRRP child, forked by the process this test started.
		b, err := os.ReadFile(d.kRun + "/v.pid")
		if err != nil {
			t.Fatal(err)
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// garpDeafOutage runs two nodes of kind p (VRRPv3, 200 ms adverts, n1
// preferred) and a client deaf to gratuitous ARP for the VIP that tries a
// TCP connection to it every 50 ms; it makes n1 leave (fault) and returns
// the client's longest time without an answer, from its last answer
// before the fault until the answers flow again (n2 master and 1 s of
// answers after the fault). It checks the MAC the client's neighbour entry
// names at the end: n2's, or the virtual MAC with p's vmac.
func garpDeafOutage(t *testing.T, p deafPeer, v6 bool, kind string, vrid int, limit time.Duration) time.Duration {
	var l *lab.Lab
	var vip netip.Addr
	var dropped func() int
	filter := "arp or tcp port 9 or ip proto 112"
	if v6 {
		// An IPv6 client deaf to unsolicited neighbour advertisements.
		l = lab.New(t, 2)
		vip = netip.MustParseAddr(fmt.Sprintf("2001:2::%d", vrid))
		dropped = ignoreNA(t, l)
		filter = "icmp6 or tcp port 9 or ip6 proto 112"
	} else {
		l = lab.New(t, 2, lab.WithoutIPv6())
		vip = netip.AddrFrom4([4]byte{198, 18, 0, byte(vrid)})
		dropped = ignoreGARP(t, l, vip)
	}
	n1, n2 := l.Nodes[0], l.Nodes[1]
	if os.Getenv("CARPD_LAB_DEAF_PCAP") == "1" {
		// For finding out why a trial took what it did.
		pcap := t.TempDir() + "/client.pcap"
		p := l.Client.Start(t, lookPath(t, "tcpdump"), "-n", "-U", "-i", l.Client.Iface, "-w", pcap, filter)
		t.Cleanup(func() { _ = p.Signal(syscall.SIGTERM); t.Logf("capture: %s", pcap) })
	}
	// The kernel default base_reachable_time is 30 s: an entry stays
	// REACHABLE 15..45 s; 4 s keeps the test short. CARPD_LAB_NEIGH_DEFAULT=1
	// keeps the default, to measure what a real client goes through.
	if os.Getenv("CARPD_LAB_NEIGH_DEFAULT") != "1" {
		setNeigh(t, l.Client, v6, "base_reachable_time_ms", "4000")
	}
	a := startDeafNode(t, p, n1, vrid, 200, vip)
	a.waitMaster(t, vip, 10*time.Second)
	b := startDeafNode(t, p, n2, vrid, 100, vip)
	if b.c != nil {
		b.c.waitState(t, "BACKUP", 5*time.Second)
	} else {
		time.Sleep(time.Second) // keepalived has no status to ask
	}

	stop := make(chan struct{})
	defer close(stop)
	answers := reach(t, l, vip, stop)
	// Two seconds of answers: the client's entry names n1's MAC.
	var last time.Time
	warm := time.After(2 * time.Second)
	for warming := true; warming; {
		select {
		case last = <-answers:
		case <-warm:
			warming = false
		}
	}
	if last.IsZero() {
		t.Fatal("the client never reached the VIP before the fault")
	}
	before := dropped()
	start := time.Now()
	a.fault(t, kind)
	deadline := time.After(limit)
	var gap time.Duration
	var steady time.Time // first answer after the last gap over 200 ms
	for ready := false; ; {
		select {
		case at := <-answers:
			if at.Sub(last) > gap {
				gap = at.Sub(last)
			}
			if at.Sub(last) > 200*time.Millisecond || steady.IsZero() {
				steady = at
			}
			last = at
			if !ready {
				ready = b.n.HasAddr(vip)
				if b.c != nil {
					st, err := b.c.status()
					ready = ready && err == nil && st.State == "MASTER"
				}
			}
			if !ready || at.Sub(start) < time.Second || at.Sub(steady) < time.Second {
				continue
			}
		case <-deadline:
			t.Fatalf("%v, %s: the client did not reach the VIP steadily within %v of the fault (longest gap so far %v)", p, kind, limit, gap)
		}
		break
	}
	entry := clientNeigh(t, l, vip)
	t.Logf("%v, %s: longest gap %v; client's entry for %v: %s", p, kind, gap.Round(time.Millisecond), vip, entry)
	want := n2.MAC.String()
	if p != deafPlain && v6 {
		want = fmt.Sprintf("00:00:5e:00:02:%02x", vrid)
	} else if p != deafPlain {
		want = fmt.Sprintf("00:00:5e:00:01:%02x", vrid)
	}
	// keepalived's master names the VIP in its ARP requests for the
	// client, from its own MAC (arp_announce 0): the client's entry names
	// whichever node asked last, so it is not checked.
	if p != deafKeepalived && entry != want {
		t.Errorf("client's entry for %v names %q, want %s", vip, entry, want)
	}
	if dropped() <= before {
		t.Errorf("the client's nft rule dropped no announcement during the takeover (%d before, %d after)", before, dropped())
	}
	return gap
}

// TestLabVMACGARPDeafClient is the case vmac exists for: a client that
// ignores gratuitous ARP keeps sending to the old master's MAC until its
// neighbour entry expires (REACHABLE for 0.5..1.5 × base_reachable_time,
// here 4 s, then delay_first_probe_time 5 s and 3 unicast probes 1 s
// apart); with vmac the MAC it knows moves with the VIP, so its outage is
// the takeover (master-down about 722 ms after a node death, the skew time
// about 122 ms after a bow-out) plus its next attempt. It measures carpd
// without and with vmac and keepalived use_vmac, node death and planned
// handover, in one run: CARPD_LAB_VMAC_TRIALS trials each (default 1)
// and a table of median and range in the log (docs/vmac.md); by default a
// subset (see cells).
func TestLabVMACGARPDeafClient(t *testing.T) {
	t.Parallel()
	trials := 1
	if n, err := strconv.Atoi(os.Getenv("CARPD_LAB_VMAC_TRIALS")); err == nil && n > 0 && n <= 10 {
		trials = n
	}
	masterDown := 3*200*time.Millisecond + 156*200*time.Millisecond/256
	limit := 40 * time.Second
	if os.Getenv("CARPD_LAB_NEIGH_DEFAULT") == "1" {
		limit = 90 * time.Second
	}
	type cell struct {
		p    deafPeer
		v6   bool
		kind string
	}
	// IPv4 with every speaker; IPv6 (a client deaf to unsolicited NAs)
	// with carpd only. The whole table takes about two minutes: CI runs
	// the cells that prove the point (without and with vmac after a node
	// death, both families, and a handover with vmac); the table in
	// docs/vmac.md is CARPD_LAB_VMAC_TABLE=1 or CARPD_LAB_VMAC_TRIALS > 1.
	full := os.Getenv("CARPD_LAB_VMAC_TABLE") == "1" || trials > 1
	var cells []cell
	for _, v6 := range []bool{false, true} {
		for _, p := range deafPeers {
			for _, kind := range []string{"kill", "term"} {
				if v6 && p > deafVMAC {
					continue
				}
				ci := kind == "kill" && (p == deafPlain || p == deafVMAC) || !v6 && kind == "term" && p == deafVMAC
				if full || ci {
					cells = append(cells, cell{p, v6, kind})
				}
			}
		}
	}
	got := map[cell][]time.Duration{}
	vrid := 30
	for _, c := range cells {
		for i := range trials {
			vrid++
			name := fmt.Sprintf("%s/%s/%d", strings.ReplaceAll(c.p.String(), " ", "_"), c.kind, i+1)
			if c.v6 {
				name = "ipv6/" + name
			}
			t.Run(name, func(t *testing.T) {
				if c.p >= deafKeepalived {
					lookPath(t, "keepalived")
				}
				if c.p == deafPlain || c.p == deafKeepalived {
					got[c] = append(got[c], garpDeafOutage(t, c.p, c.v6, c.kind, vrid, limit))
					return
				}
				got[c] = append(got[c], garpDeafOutage(t, c.p, c.v6, c.kind, vrid, 20*time.Second))
			})
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| family | speaker | fault | trials | median | range |\n|---|---|---|---|---|---|\n")
	for _, c := range cells {
		p, kind := c.p, c.kind
		{
			ds := slices.Clone(got[c])
			if len(ds) == 0 {
				continue
			}
			slices.Sort(ds)
			r := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
			fam := map[bool]string{false: "IPv4", true: "IPv6"}[c.v6]
			fmt.Fprintf(&table, "| %s | %v | %s | %d | %s | %s–%s |\n", fam, p, kind, len(ds), r(ds[len(ds)/2]), r(ds[0]), r(ds[len(ds)-1]))
			for _, d := range ds {
				switch {
				// Without vmac the entry must at least go through
				// delay_first_probe_time (5 s); 4 s leaves slack.
				case p == deafPlain && d < 4*time.Second:
					t.Errorf("%v, %v, %s: the outage was %v: the client should have waited for its neighbour entry to expire", c.v6, p, kind, d)
				case (p == deafVMAC || p == deafKeepalivedAnnounce) && d > masterDown+2*time.Second:
					t.Errorf("%v, %v, %s: the outage was %v, want about the master-down interval %v or less", c.v6, p, kind, d, masterDown)
				}
			}
		}
	}
	t.Logf("GARP-deaf client, longest gap (master-down %v):\n%s", masterDown.Round(time.Millisecond), table.String())
}

// TestLabVMACBroker: the broker setup (DNAT, conntrack flush, client
// reset, await-claim, broker restart, bridge probe) with vmac on both
// nodes, through a node death and a planned handover: the MQTT client's
// outage stays within TestLabClientOutage's bounds, and the bridge probe
// works across the nodes' static addresses.
func TestLabVMACBroker(t *testing.T) {
	needBrokerLab(t)
	for i, kind := range []string{"kill", "term"} {
		t.Run(kind, func(t *testing.T) {
			gap := outageTrialWith(t, kind, brokerSetup{vrid: 70 + i, vmac: true})
			t.Logf("vmac, %s: longest gap %v", kind, gap.Round(time.Millisecond))
		})
	}
	t.Run("probe", func(t *testing.T) {
		_, vip, nodes := newBrokerLab(t, brokerSetup{vrid: 72, vmac: true})
		if ex, up := linkState(t, nodes[0].n, "vrrp.72"); !ex || !up || !nodes[0].n.HasAddr(vip) {
			t.Errorf("n1: vrrp.72 exists %v, up %v, VIP %v; want all", ex, up, nodes[0].n.HasAddr(vip))
		}
		probeOK := func(s *daemon.BrokerStatus) bool { return pathsAre(s, "ok") }
		nodes[0].waitBroker(t, "probe ok", 15*time.Second, probeOK)
		nodes[1].waitBroker(t, "probe ok", 15*time.Second, probeOK)
	})
}

// TestLabVMACKeepalived runs carpd --vmac against keepalived use_vmac on
// one VRRP router, VRRPv3 and VRRPv2, each master in turn: the backup
// of either kind stays silent (one ARP answer, from the virtual MAC), and
// the switch learns the virtual MAC on the master's port after each
// handover.
func TestLabVMACKeepalived(t *testing.T) {
	for _, tc := range []struct {
		version           int
		proto, vrid, pass string
	}{
		{3, "vrrp3", "23", ""},
		{2, "vrrp2", "24", "pw"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			t.Parallel()
			lookPath(t, "keepalived")
			l := lab.New(t, 2, lab.WithoutIPv6())
			n1, n2 := l.Nodes[0], l.Nodes[1]
			vip := netip.MustParseAddr("198.18.0." + tc.vrid)
			id, _ := strconv.Atoi(tc.vrid)
			vmac := fmt.Sprintf("00:00:5e:00:01:%02x", id)
			conf := func(prio int) string {
				path := keepalivedConf(t, tc.version, prio, tc.vrid, vip.String(), tc.pass)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, strings.Replace(string(b), "  priority", "  use_vmac\n  priority", 1))
				return path
			}
			args := []string{"--proto", tc.proto, "-i", n1.Iface, "-v", tc.vrid, "-a", vip.String(), "--priority", "100", "--vmac"}
			if tc.pass != "" {
				args = append(args, "-p", tc.pass)
			}
			oneAnswer := func(when string) {
				t.Helper()
				if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
					t.Errorf("%s: ARP answers %v, want one from %s", when, got, vmac)
				}
			}
			learnt := func(n *lab.Node, when string) {
				t.Helper()
				lab.Wait(t, 3*time.Second, when+": switch learning "+vmac+" on "+n.Name+"'s port", func() bool {
					return fdbPort(t, l, vmac) == portOf(n)
				})
			}

			// keepalived master, carpd backup.
			k := startKeepalived(t, n2, conf(200))
			lab.Wait(t, 10*time.Second, "keepalived master", func() bool { return n2.HasAddr(vip) })
			a := startCarpd(t, n1, "", args...)
			a.waitState(t, "BACKUP", 5*time.Second)
			lab.Wait(t, 5*time.Second, "keepalived's adverts accepted", func() bool {
				st, err := a.status()
				return err == nil && st.Counters.Received >= 2
			})
			oneAnswer("keepalived master")
			learnt(n2, "keepalived master")

			start := time.Now()
			if err := k.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			a.waitState(t, "MASTER", 5*time.Second)
			lab.Wait(t, 2*time.Second, "VIP on n1's vrrp."+tc.vrid, func() bool { return n1.HasAddr(vip) })
			learnt(n1, "carpd master")
			t.Logf("carpd master and learnt on its port %v after keepalived's SIGTERM", time.Since(start).Round(time.Millisecond))
			oneAnswer("carpd master")

			// keepalived back as backup stays so; carpd hands over on SIGTERM.
			startKeepalived(t, n2, conf(50))
			time.Sleep(4 * time.Second) // keepalived's master-down interval, 3 s and skew
			if n2.HasAddr(vip) {
				t.Fatal("keepalived with priority 50 claimed the VIP from carpd")
			}
			oneAnswer("carpd master, keepalived backup")
			start = time.Now()
			if err := a.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			lab.Wait(t, 5*time.Second, "keepalived master again", func() bool { return n2.HasAddr(vip) })
			learnt(n2, "keepalived master again")
			t.Logf("keepalived master and learnt on its port %v after carpd's SIGTERM", time.Since(start).Round(time.Millisecond))
			if err := a.Wait(t.Context()); err != nil {
				t.Errorf("carpd after SIGTERM: %v", err)
			}
			if ex, _ := linkState(t, n1, "vrrp."+tc.vrid); ex {
				t.Errorf("carpd left vrrp.%s behind", tc.vrid)
			}
			oneAnswer("keepalived master again")
		})
	}
}

// TestLabVMACSplitBrainHeals: both nodes MASTER while the switch drops
// the adverts between them, both children up with the same MAC; once it
// stops, each must hear the other's adverts, sent from that MAC, on its
// parent, and the less preferred one steps down. (A macvlan in private
// mode hands a multicast frame whose source is one of its own MACs to that
// child only, so the parent never saw them: both stayed MASTER.)
func TestLabVMACSplitBrainHeals(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.9")
	a := startCarpd(t, n1, "", vrrpArgs(n1, "9", "200", vip.String(), "--vmac")...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", vrrpArgs(n2, "9", "100", vip.String(), "--vmac")...)
	b.waitState(t, "BACKUP", 5*time.Second)

	nftSwitch(t, l.Switch, "table bridge carpdsplit {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n"+
		"\t\tiifname { \"p1\", \"p2\" } oifname { \"p1\", \"p2\" } ip protocol 112 drop\n\t}\n}\n")
	b.waitState(t, "MASTER", 5*time.Second)
	if st, _ := a.status(); st.State != "MASTER" {
		t.Fatalf("n1 is %s during the split, want MASTER", st.State)
	}
	time.Sleep(time.Second)
	nftSwitch(t, l.Switch, "delete table bridge carpdsplit\n")
	start := time.Now()
	// n2 hears n1's priority 200 and steps down within an interval or two.
	b.waitState(t, "BACKUP", 3*time.Second)
	t.Logf("split healed %v after the adverts flowed again", time.Since(start).Round(time.Millisecond))
	if st, _ := a.status(); st.State != "MASTER" {
		t.Errorf("n1 is %s after the split, want MASTER", st.State)
	}
	lab.Wait(t, 2*time.Second, "n2's vrrp.9 down", func() bool { _, up := linkState(t, n2, "vrrp.9"); return !up })
}

// clientNeigh returns the MAC of the lab client's neighbour entry for
// addr, "" when it has none.
func clientNeigh(t *testing.T, l *lab.Lab, addr netip.Addr) string {
	t.Helper()
	out, err := l.Client.Run(t.Context(), "ip", "neigh", "show", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

// TestLabVMACUcarp runs carpd --vmac (CARP) and a real ucarp, which has
// no vmac and keeps its own MAC, on one vhid, each master in turn: they
// still elect (ucarp reads the adverts whatever their source MAC), and
// the client's neighbour entry for the VIP follows the gratuitous ARP of
// each new master without the client asking: the virtual MAC while carpd
// is master, ucarp's node's MAC while ucarp is.
func TestLabVMACUcarp(t *testing.T) {
	t.Parallel()
	ucarp := lookPath(t, "ucarp")
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.14")
	const vmac = "00:00:5e:00:01:0e"
	up, down, calls := ucarpScripts(t, true)
	a := startCarpd(t, n1, "", carpArgs(n1, "14", "0", "s3cret", vip.String(), "--vmac")...)
	a.waitState(t, "MASTER", 10*time.Second)
	u := n2.Start(t, append([]string{ucarp}, carpArgs(n2, "14", "50", "s3cret", vip.String(), "-u", up, "-d", down, "-n", "-z")...)...)
	// One connection attempt (refused: nothing listens on port 9) gives
	// the client an entry for the VIP.
	_ = l.Client.Do(func() error {
		if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(vip, 9).String(), time.Second); err == nil {
			c.Close()
		}
		return nil
	})
	if got := clientNeigh(t, l, vip); got != vmac {
		t.Errorf("client's entry with carpd master: %q, want %s", got, vmac)
	}
	time.Sleep(4 * time.Second) // longer than ucarp's master-down: it must stay backup
	if got := calls(); len(got) != 0 {
		t.Fatalf("ucarp ran %v while carpd --vmac was master", got)
	}
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("ARP answers with carpd master: %v, want only %s", got, vmac)
	}

	start := time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 5*time.Second, "ucarp up script", func() bool { return len(calls()) > 0 })
	t.Logf("ucarp took over %v after carpd's SIGTERM", time.Since(start).Round(time.Millisecond))
	lab.Wait(t, 3*time.Second, "client's entry naming n2's MAC", func() bool { return clientNeigh(t, l, vip) == n2.MAC.String() })
	t.Logf("client's entry named ucarp's MAC %v after carpd's SIGTERM", time.Since(start).Round(time.Millisecond))
	if err := a.Wait(t.Context()); err != nil {
		t.Fatalf("carpd after SIGTERM: %v", err)
	}
	if ex, _ := linkState(t, n1, "vrrp.14"); ex {
		t.Error("carpd left vrrp.14 behind")
	}
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{n2.MAC.String()}) {
		t.Errorf("ARP answers with ucarp master: %v, want only %s", got, n2.MAC)
	}

	// carpd back, without preemption, follows ucarp; ucarp leaving (no
	// bow-out) hands over after carpd's master-down interval.
	a2 := startCarpd(t, n1, a.dir, carpArgs(n1, "14", "0", "s3cret", vip.String(), "--vmac")...)
	a2.waitState(t, "BACKUP", 5*time.Second)
	lab.Wait(t, 5*time.Second, "ucarp's adverts accepted", func() bool {
		st, err := a2.status()
		return err == nil && st.Counters.Received >= 2 && st.Master == n2.IP4.Addr().String()
	})
	if ex, up := linkState(t, n1, "vrrp.14"); !ex || up {
		t.Errorf("n1's vrrp.14 as backup: exists %v up %v, want down", ex, up)
	}
	start = time.Now()
	if err := u.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a2.waitState(t, "MASTER", 8*time.Second)
	t.Logf("carpd took over %v after ucarp's SIGTERM", time.Since(start).Round(time.Millisecond))
	lab.Wait(t, 3*time.Second, "client's entry naming the virtual MAC", func() bool { return clientNeigh(t, l, vip) == vmac })
	t.Logf("client's entry named %s %v after ucarp's SIGTERM", vmac, time.Since(start).Round(time.Millisecond))
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("ARP answers with carpd master again: %v, want only %s", got, vmac)
	}
}

// ndpAnswers sends one neighbour solicitation for vip from the lab's
// client and returns the target link-layer address of every solicited
// advertisement for vip within wait, so that a second answer shows.
func ndpAnswers(t *testing.T, l *lab.Lab, vip netip.Addr, wait time.Duration) []string {
	t.Helper()
	var macs []string
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
		if err != nil {
			return err
		}
		defer c.Close()
		snm, err := ndp.SolicitedNodeMulticast(vip)
		if err != nil {
			return err
		}
		ns := &ndp.NeighborSolicitation{TargetAddress: vip,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}}}
		if err := c.WriteTo(ns, nil, snm); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		for range 64 {
			m, _, _, err := c.ReadFrom()
			if err != nil {
				return nil // the deadline
			}
			na, ok := m.(*ndp.NeighborAdvertisement)
			if !ok || !na.Solicited || na.TargetAddress != vip {
				continue
			}
			for _, o := range na.Options {
				if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
					macs = append(macs, lla.Addr.String())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return macs
}

// sendRA sends one router advertisement from the lab's client to all
// nodes: a default router, and prefix 2001:2:0:1::/64 for SLAAC.
func sendRA(t *testing.T, l *lab.Lab) {
	t.Helper()
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
		if err != nil {
			return err
		}
		defer c.Close()
		ra := &ndp.RouterAdvertisement{CurrentHopLimit: 64, RouterLifetime: 30 * time.Minute, Options: []ndp.Option{
			&ndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
				ValidLifetime: time.Hour, PreferredLifetime: time.Hour, Prefix: netip.MustParseAddr("2001:2:0:1::")},
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr},
		}}
		return c.WriteTo(ra, nil, netip.IPv6LinkLocalAllNodes())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLabVMAC6: an IPv6 router with --vmac. The master holds the VIP on
// vrrp6.46, MAC 00:00:5e:00:02:2e (RFC 5798 §7.3), with its parent's
// link-local address, the adverts' source, which leave from the virtual
// MAC; only the virtual MAC answers a neighbour solicitation for the VIP;
// the backup's child is down, without addresses. A router advertisement
// gives the master's child neither an address nor a default route
// (accept_ra=0). After a SIGTERM the new master's child takes over, the
// old master sees its unsolicited NA (await-claim) and the client's
// neighbour entry keeps the virtual MAC; demoted and promoted again, the
// new master's child loses and regains the link-local address.
func TestLabVMAC6(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("2001:2::46")
	const vmac, child = "00:00:5e:00:02:2e", "vrrp6.46"
	a := startCarpd(t, n1, "", vrrpArgs(n1, "46", "200", vip.String(), "--vmac")...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", vrrpArgs(n2, "46", "100", vip.String(), "--vmac")...)
	b.waitState(t, "BACKUP", 5*time.Second)

	addrsOn := func(n *lab.Node, iface string) string {
		out, _ := n.Run(t.Context(), "ip", "-6", "-o", "addr", "show", "dev", iface)
		return string(out)
	}
	holds := func(n *lab.Node, master bool) {
		t.Helper()
		ex, up := linkState(t, n, child)
		if !ex || up != master {
			t.Errorf("%s: %s exists %v up %v, want up %v", n.Name, child, ex, up, master)
		}
		out, err := n.Run(t.Context(), "ip", "-o", "link", "show", "dev", child)
		if err != nil || !strings.Contains(string(out), "link/ether "+vmac) {
			t.Errorf("%s: %s is %q (%v), want MAC %s", n.Name, child, out, err, vmac)
		}
		got := addrsOn(n, child)
		if master && (!strings.Contains(got, n.LinkLocal.String()+"/64") || !strings.Contains(got, vip.String())) {
			t.Errorf("%s (master): %s has %q, want %v and the VIP", n.Name, child, got, n.LinkLocal)
		}
		if !master && strings.TrimSpace(got) != "" {
			t.Errorf("%s (backup): %s has addresses %q, want none", n.Name, child, got)
		}
	}
	holds(n1, true)
	holds(n2, false)
	if got := ndpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("NS answers for %v: %v, want only %s", vip, got, vmac)
	}
	if got := advertMACs6(t, l, time.Second, 3); len(got) == 0 || slices.ContainsFunc(got, func(m string) bool { return m != vmac }) {
		t.Errorf("adverts from %v, want all from %s", got, vmac)
	}
	lab.Wait(t, 2*time.Second, "switch learning "+vmac+" on n1's port", func() bool { return fdbPort(t, l, vmac) == portOf(n1) })

	sendRA(t, l)
	lab.Wait(t, 3*time.Second, "n1's eth0 taking the RA's prefix (the RA arrived)", func() bool {
		return strings.Contains(addrsOn(n1, n1.Iface), "2001:2:0:1:")
	})
	if got := addrsOn(n1, child); strings.Contains(got, "2001:2:0:1:") {
		t.Errorf("n1's %s autoconfigured from the RA: %q", child, got)
	}
	if out, _ := n1.Run(t.Context(), "ip", "-6", "route", "show", "default"); strings.Contains(string(out), child) {
		t.Errorf("n1 has a default route through %s: %q", child, out)
	}

	// The client's entry for the VIP: the virtual MAC.
	_ = l.Client.Do(func() error {
		if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(vip, 9).String(), time.Second); err == nil {
			c.Close()
		}
		return nil
	})
	if got := clientNeigh(t, l, vip); got != vmac {
		t.Errorf("client's entry for %v: %q, want %s", vip, got, vmac)
	}

	start := time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, "MASTER", 5*time.Second)
	lab.Wait(t, 2*time.Second, "switch learning "+vmac+" on n2's port", func() bool { return fdbPort(t, l, vmac) == portOf(n2) })
	t.Logf("handover to n2 and the switch learning its port: %v", time.Since(start).Round(time.Millisecond))
	if err := a.Wait(t.Context()); err != nil {
		t.Errorf("n1 carpd: %v", err)
	}
	if ex, _ := linkState(t, n1, child); ex {
		t.Errorf("n1's %s is still there after SIGTERM", child)
	}
	holds(n2, true)
	if got := ndpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("NS answers for %v after the handover: %v, want only %s", vip, got, vmac)
	}
	if got := clientNeigh(t, l, vip); got != vmac {
		t.Errorf("client's entry for %v after the handover: %q, want %s", vip, got, vmac)
	}
	var claim string
	for _, line := range strings.Split(readLog(t, a), "\n") {
		if strings.Contains(line, `"msg":"new master's claim"`) {
			claim = line
		}
	}
	if !strings.Contains(claim, `"seen":true`) {
		t.Errorf("n1 did not see n2's claim (its unsolicited NA from %s): %q", child, claim)
	}

	// n1 back preempts: n2's child goes down and the kernel drops its
	// link-local address with it (keep_addr_on_down 0); promoted again,
	// n2 puts it back and its adverts leave from the child.
	a2 := startCarpd(t, n1, a.dir, vrrpArgs(n1, "46", "200", vip.String(), "--vmac")...)
	a2.waitState(t, "MASTER", 10*time.Second)
	b.waitState(t, "BACKUP", 5*time.Second)
	// The demotion's steps (await-claim, vip-remove) run after the state
	// changed.
	lab.Wait(t, 3*time.Second, "n2's "+child+" down", func() bool { _, up := linkState(t, n2, child); return !up })
	holds(n2, false)
	if err := a2.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, "MASTER", 5*time.Second)
	holds(n2, true)
	if got := advertMACs6(t, l, time.Second, 3); len(got) == 0 || slices.ContainsFunc(got, func(m string) bool { return m != vmac }) {
		t.Errorf("n2's adverts after its second promotion from %v, want all from %s", got, vmac)
	}
}

// TestLabVMACRouterAdvert4: an IPv4 router's vmac child has no
// link-local address, yet without accept_ra=0 a router advertisement
// would still give it a SLAAC address built from the virtual MAC and a
// default route while it is up; with it, neither.
func TestLabVMACRouterAdvert4(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 1)
	n1 := l.Nodes[0]
	vip := netip.MustParseAddr("198.18.0.47")
	a := startCarpd(t, n1, "", vrrpArgs(n1, "47", "200", vip.String(), "--vmac")...)
	a.waitState(t, "MASTER", 10*time.Second)
	sendRA(t, l)
	lab.Wait(t, 3*time.Second, "n1's eth0 taking the RA's prefix (the RA arrived)", func() bool {
		out, _ := n1.Run(t.Context(), "ip", "-6", "-o", "addr", "show", "dev", n1.Iface)
		return strings.Contains(string(out), "2001:2:0:1:")
	})
	if out, _ := n1.Run(t.Context(), "ip", "-6", "-o", "addr", "show", "dev", "vrrp.47"); strings.TrimSpace(string(out)) != "" {
		t.Errorf("n1's vrrp.47 has IPv6 addresses: %q", out)
	}
	if out, _ := n1.Run(t.Context(), "ip", "-6", "route", "show", "default"); strings.Contains(string(out), "vrrp.47") {
		t.Errorf("n1 has a default route through vrrp.47: %q", out)
	}
}

// TestLabVMAC6Keepalived runs carpd --vmac against keepalived use_vmac on
// one IPv6 VRRPv3 router, each master in turn: carpd follows keepalived's
// adverts (sent from keepalived's child, 00:00:5e:00:02:ID), and whoever
// is master, only the virtual MAC answers a neighbour solicitation for
// the VIP.
func TestLabVMAC6Keepalived(t *testing.T) {
	t.Parallel()
	lookPath(t, "keepalived")
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("2001:2::48")
	const vmac = "00:00:5e:00:02:30"
	conf := func(prio int) string {
		path := keepalivedConf(t, 3, prio, "48", vip.String(), "")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c := strings.Replace(string(b), "  priority", "  use_vmac\n  priority", 1)
		writeFile(t, path, strings.Replace(c, vip.String()+"/32", vip.String()+"/128", 1))
		return path
	}
	oneAnswer := func(when string) {
		t.Helper()
		if got := ndpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
			t.Errorf("%s: NS answers %v, want one from %s", when, got, vmac)
		}
	}
	args := []string{"--proto", "vrrp3", "-i", n1.Iface, "-v", "48", "-a", vip.String(), "--priority", "100", "--vmac"}

	k := startKeepalived(t, n2, conf(200))
	lab.Wait(t, 10*time.Second, "keepalived master", func() bool { return n2.HasAddr(vip) })
	a := startCarpd(t, n1, "", args...)
	a.waitState(t, "BACKUP", 5*time.Second)
	lab.Wait(t, 5*time.Second, "keepalived's adverts accepted", func() bool {
		st, err := a.status()
		return err == nil && st.Counters.Received >= 2 && st.Master == n2.LinkLocal.String()
	})
	oneAnswer("keepalived master")

	start := time.Now()
	if err := k.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.waitState(t, "MASTER", 5*time.Second)
	t.Logf("carpd master %v after keepalived's SIGTERM", time.Since(start).Round(time.Millisecond))
	lab.Wait(t, 2*time.Second, "VIP on n1's vrrp6.48", func() bool { return n1.HasAddr(vip) })
	oneAnswer("carpd master")

	// keepalived deletes its child on the way out; a new one started
	// before that found the old child, replaced it and failed to bind
	// (FAULT).
	if err := k.Wait(t.Context()); err != nil {
		t.Logf("keepalived after SIGTERM: %v", err)
	}
	startKeepalived(t, n2, conf(50))
	time.Sleep(4 * time.Second) // keepalived's master-down interval, 3 s and skew
	if n2.HasAddr(vip) {
		t.Fatal("keepalived with priority 50 claimed the VIP from carpd")
	}
	oneAnswer("carpd master, keepalived backup")
	start = time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 5*time.Second, "keepalived master again", func() bool { return n2.HasAddr(vip) })
	t.Logf("keepalived master %v after carpd's SIGTERM", time.Since(start).Round(time.Millisecond))
	if err := a.Wait(t.Context()); err != nil {
		t.Errorf("carpd after SIGTERM: %v", err)
	}
	oneAnswer("keepalived master again")
}

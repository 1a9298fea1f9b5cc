package daemon

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// putMarked puts a leftover address carrying carpd's mark on iface.
func (n *fakeNet) putMarked(iface, prefix string) {
	n.put(iface, prefix, "")
	n.mu.Lock()
	defer n.mu.Unlock()
	fi := n.ifaces[iface]
	if fi.marked == nil {
		fi.marked = make(map[netip.Prefix]bool)
	}
	fi.marked[netip.MustParsePrefix(prefix)] = true
}

func (a *fakeAddrs) Marked() ([]netip.Prefix, error) {
	a.n.mu.Lock()
	defer a.n.mu.Unlock()
	fi := a.n.ifaces[a.iface]
	var out []netip.Prefix
	for p := range fi.addrs {
		if fi.marked[p] {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out, nil
}

// TestRemoveUnlisted starts a daemon on an interface holding marked
// leftovers, on a state directory whose last run (killed: its status
// file is still there) held 198.18.0.77 and 2001:2::77 on eth0: the listed
// VIP goes as before (by configuration), the unlisted ones that run held
// go too and are logged, before the router enters BACKUP. An unmarked
// address stays, and so does a marked one the last run did not hold:
// another carpd's on the same interface.
func TestRemoveUnlisted(t *testing.T) {
	seg := &segment{}
	tr := newTracer(t)
	r := vrrpRouter("vr", 9, 100, "198.18.0.100/32")
	r.Hooks.Notify = traceScript(t, tr, "notify")
	fn := newFakeNet(seg, map[string]string{"eth0": "198.18.0.1"})
	fn.trace = tr
	fn.putMarked("eth0", "198.18.0.100/32")
	fn.putMarked("eth0", "198.18.0.77/32")
	fn.putMarked("eth0", "2001:2::77/128")
	fn.putMarked("eth0", "198.18.0.88/32")
	fn.put("eth0", "198.18.0.200/32", "")
	n := newNodeOn(t, fn, r)
	if err := PrepareStateDir(n.dir); err != nil {
		t.Fatal(err)
	}
	last := status.Report{Routers: []status.Router{
		{Name: "gone4", Iface: "eth0", VIPs: []string{"198.18.0.77/32"}},
		{Name: "gone6", Iface: "eth0", VIPs: []string{"2001:2::77/128"}},
		{Name: "elsewhere", Iface: "eth1", VIPs: []string{"198.18.0.88/32"}},
	}}
	if err := writeStatus(n.dir, last); err != nil {
		t.Fatal(err)
	}
	n.start()
	n.waitState("vr", "BACKUP", time.Second)
	waitFor(t, time.Second, "notify BACKUP", func() bool { return len(tr.lines()) >= 5 })
	want := []string{"remove 198.18.0.100/32", "remove 198.18.0.77/32", "remove 2001:2::77/128",
		"remove 198.18.0.100/32", "notify BACKUP INSTANCE vr BACKUP 100"}
	if diff := cmp.Diff(want, tr.lines()); diff != "" {
		t.Errorf("start-up order (-want +got):\n%s", diff)
	}
	if got := fn.addrsOf("eth0"); !slices.Equal(got, []string{"198.18.0.200/32", "198.18.0.88/32"}) {
		t.Errorf("addresses after start %v, want the unmarked one and the other carpd's", got)
	}
	var logged []string
	for _, rec := range n.logs.records("removed leftover VIP no router lists") {
		logged = append(logged, rec["vip"].(string))
	}
	if diff := cmp.Diff([]string{"198.18.0.77/32", "2001:2::77/128"}, logged); diff != "" {
		t.Errorf("logged removals (-want +got):\n%s", diff)
	}
}

// TestRemoveUnlistedFirstRun: without a status file from an earlier run
// (a first start, or after a clean stop) no marked address is taken for a
// leftover of ours unless the configuration lists it.
func TestRemoveUnlistedFirstRun(t *testing.T) {
	r := vrrpRouter("vr", 9, 100, "198.18.0.100/32")
	fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
	fn.putMarked("eth0", "198.18.0.77/32")
	n := newNodeOn(t, fn, r).start()
	n.waitState("vr", "BACKUP", time.Second)
	if got := fn.addrsOf("eth0"); !slices.Equal(got, []string{"198.18.0.77/32"}) {
		t.Errorf("addresses after start %v, want the other carpd's marked VIP kept", got)
	}
}

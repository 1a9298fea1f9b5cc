//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// ucarpScripts writes up and down scripts for ucarp that log their calls
// to a file, and returns their paths and a reader of that file. With
// manageVIP the scripts also add and remove the VIP (ucarp's second
// argument) as /32 on the interface (its first), as a classic ucarp setup
// does: ucarp itself never touches addresses.
func ucarpScripts(t *testing.T, manageVIP bool) (up, down string, calls func() []string) {
	t.Helper()
	dir := t.TempDir()
	log := dir + "/calls"
	ipCmd := map[string]string{"up": "", "down": ""}
	if manageVIP {
		ip, err := exec.LookPath("ip")
		if err != nil {
			t.Fatal(err)
		}
		ipCmd["up"] = ip + " addr add \"$2/32\" dev \"$1\"\n"
		ipCmd["down"] = ip + " addr del \"$2/32\" dev \"$1\"\n"
	}
	for _, s := range []string{"up", "down"} {
		body := fmt.Sprintf("#!/bin/sh\n%secho \"%s $*\" >> %s\n", ipCmd[s], s, log)
		if err := os.WriteFile(dir+"/"+s, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir + "/up", dir + "/down", func() []string {
		b, _ := os.ReadFile(log)
		return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
	}
}

func lookPath(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("%s is not installed (scripts/test.sh installs it)", prog)
	}
	return p
}

// TestLabUcarpInterop runs carpd and a real ucarp on one vhid, each master
// in turn: carpd's bow-out hands over to ucarp at once; carpd restarted
// without preemption follows ucarp; ucarp leaving without a bow-out hands
// back after carpd's master-down interval.
func TestLabUcarpInterop(t *testing.T) {
	t.Parallel()
	ucarp := lookPath(t, "ucarp")
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := "198.18.0.12"
	up, down, calls := ucarpScripts(t, false)
	a := startCarpd(t, n1, "", carpArgs(n1, "12", "0", "s3cret", vip)...)
	a.waitState(t, "MASTER", 10*time.Second)
	u := n2.Start(t, append([]string{ucarp}, carpArgs(n2, "12", "50", "s3cret", vip, "-u", up, "-d", down, "-n", "-z")...)...)
	time.Sleep(4 * time.Second) // longer than ucarp's master-down: it must stay backup
	if got := calls(); len(got) != 0 {
		t.Fatalf("ucarp ran %v while carpd was master", got)
	}

	start := time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lab.Wait(t, 5*time.Second, "ucarp up script", func() bool { return len(calls()) > 0 })
	t.Logf("ucarp took over %v after carpd's SIGTERM (bow-out)", time.Since(start).Round(time.Millisecond))
	if got, want := calls(), []string{"up_eth0_" + vip}; !slices.Equal(got, want) {
		t.Errorf("ucarp calls %v, want %v", got, want)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("ucarp needed %v: carpd's bow-out was not honoured", time.Since(start))
	}

	// The first carpd still holds its state directory until it has exited
	// (its await-claim and steps run after the bow-out): a second one
	// started earlier is refused as "another carpd is running".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(ctx); err != nil {
		t.Fatalf("carpd after SIGTERM: %v, want exit 0", err)
	}
	a2 := startCarpd(t, n1, a.dir, carpArgs(n1, "12", "0", "s3cret", vip)...)
	a2.waitState(t, "BACKUP", 5*time.Second)
	lab.Wait(t, 5*time.Second, "ucarp's adverts accepted", func() bool {
		st, err := a2.status()
		return err == nil && st.Counters.Received >= 3 && st.Master == n2.IP4.Addr().String()
	})
	if st, _ := a2.status(); st.State != "BACKUP" || len(st.Counters.Dropped) != 0 {
		t.Errorf("carpd following ucarp: %s, drops %v", st.State, st.Counters.Dropped)
	}

	start = time.Now()
	if err := u.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a2.waitState(t, "MASTER", 8*time.Second)
	// ucarp sends no bow-out: carpd waits its master-down, 3 s.
	t.Logf("carpd took over %v after ucarp's SIGTERM (no bow-out)", time.Since(start).Round(time.Millisecond))
	lab.Wait(t, 2*time.Second, "ucarp down script", func() bool { return len(calls()) == 2 })
	if got := calls(); got[1] != "down_eth0_"+vip {
		t.Errorf("ucarp calls %v, want the down script last", got)
	}
}

// TestLabUcarpWrongPassword: with different passwords there is no election
// across carpd and ucarp; both become master and carpd counts the
// authentication failures.
func TestLabUcarpWrongPassword(t *testing.T) {
	t.Parallel()
	ucarp := lookPath(t, "ucarp")
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := "198.18.0.13"
	up, down, calls := ucarpScripts(t, false)
	a := startCarpd(t, n1, "", carpArgs(n1, "13", "0", "right", vip)...)
	n2.Start(t, append([]string{ucarp}, carpArgs(n2, "13", "0", "wrong", vip, "-u", up, "-d", down, "-n")...)...)
	a.waitState(t, "MASTER", 10*time.Second)
	lab.Wait(t, 10*time.Second, "ucarp master", func() bool { return len(calls()) > 0 })
	lab.Wait(t, 5*time.Second, "auth failures counted", func() bool {
		st, err := a.status()
		return err == nil && st.Counters.Dropped["auth"] >= 2
	})
	st, _ := a.status()
	if st.State != "MASTER" || st.Counters.Received != 0 {
		t.Errorf("carpd %s with %d adverts accepted, want MASTER and none", st.State, st.Counters.Received)
	}
	t.Logf("carpd counters with a wrong ucarp password: %+v", st.Counters)
}

// keepalivedConf is a one-instance keepalived configuration.
func keepalivedConf(t *testing.T, version, prio int, vrid, vip, pass string) string {
	t.Helper()
	auth := ""
	if pass != "" {
		auth = fmt.Sprintf("  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", pass)
	}
	conf := fmt.Sprintf(`global_defs {
  router_id carpd-lab
  vrrp_version %d
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id %s
  priority %d
  advert_int 1
%s  virtual_ipaddress {
    %s/32
  }
}
`, version, vrid, prio, auth, vip)
	path := t.TempDir() + "/keepalived.conf"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startKeepalived runs keepalived's VRRP process in the foreground in n.
func startKeepalived(t *testing.T, n *lab.Node, conf string) *lab.Proc {
	t.Helper()
	run := t.TempDir()
	return n.Start(t, lookPath(t, "keepalived"), "--vrrp", "--dont-fork", "--log-console", "--log-detail",
		"--use-file", conf, "--pid", run+"/k.pid", "--vrrp_pid", run+"/v.pid", "--checkers_pid", run+"/c.pid")
}

// TestLabKeepalivedInterop runs carpd and a real keepalived on one VRRP
// router, for VRRPv2 (with PASS authentication) and VRRPv3: each is master
// in turn, and each hands over to the other with a priority-0 advert on
// SIGTERM, within the receiver's skew time.
func TestLabKeepalivedInterop(t *testing.T) {
	for _, tc := range []struct {
		version int
		proto   string
		vrid    string
		vip     string
		pass    string
	}{
		{2, "vrrp2", "20", "198.18.0.20", "pw"},
		{3, "vrrp3", "21", "198.18.0.21", ""},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			t.Parallel()
			lookPath(t, "keepalived")
			l := lab.New(t, 2, lab.WithoutIPv6())
			n1, n2 := l.Nodes[0], l.Nodes[1]
			vip := netip.MustParseAddr(tc.vip)
			args := []string{"--proto", tc.proto, "-i", n1.Iface, "-v", tc.vrid, "-a", tc.vip, "--priority", "100"}
			if tc.pass != "" {
				args = append(args, "-p", tc.pass)
			}

			k := startKeepalived(t, n2, keepalivedConf(t, tc.version, 200, tc.vrid, tc.vip, tc.pass))
			lab.Wait(t, 10*time.Second, "keepalived master", func() bool { return n2.HasAddr(vip) })
			a := startCarpd(t, n1, "", args...)
			a.waitState(t, "BACKUP", 5*time.Second)
			lab.Wait(t, 5*time.Second, "keepalived's adverts accepted", func() bool {
				st, err := a.status()
				return err == nil && st.Counters.Received >= 2 && st.Master == n2.IP4.Addr().String()
			})

			// keepalived leaves: priority 0, carpd claims after its skew
			// time, (256−100)/256 s.
			start := time.Now()
			if err := k.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			a.waitState(t, "MASTER", 5*time.Second)
			took := time.Since(start)
			t.Logf("carpd took over %v after keepalived's SIGTERM", took.Round(time.Millisecond))
			if took > 2*time.Second {
				t.Errorf("carpd needed %v: keepalived's priority 0 was not honoured", took)
			}
			if st, _ := a.status(); !strings.Contains(st.Reason, "priority 0") {
				t.Errorf("carpd's takeover reason %q, want priority 0", st.Reason)
			}
			lab.Wait(t, 2*time.Second, "VIP on n1", func() bool { return n1.HasAddr(vip) })

			// keepalived back with a lower priority stays backup; carpd
			// leaving hands over to it.
			startKeepalived(t, n2, keepalivedConf(t, tc.version, 50, tc.vrid, tc.vip, tc.pass))
			time.Sleep(5 * time.Second) // longer than keepalived's master-down
			if n2.HasAddr(vip) {
				t.Fatalf("keepalived with priority 50 claimed the VIP from carpd")
			}
			start = time.Now()
			if err := a.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			lab.Wait(t, 5*time.Second, "keepalived master again", func() bool { return n2.HasAddr(vip) })
			took = time.Since(start)
			t.Logf("keepalived took over %v after carpd's SIGTERM", took.Round(time.Millisecond))
			if took > 2500*time.Millisecond {
				t.Errorf("keepalived needed %v: carpd's priority 0 was not honoured", took)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Wait(ctx); err != nil {
				t.Errorf("carpd after SIGTERM: %v", err)
			}
			if n1.HasAddr(vip) {
				t.Errorf("carpd left the VIP behind")
			}
		})
	}
}

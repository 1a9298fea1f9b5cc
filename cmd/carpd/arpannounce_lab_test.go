//go:build linux

package main

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// TestLabARPAnnounce: carpd sets arp_announce=2 on the interface of a
// router without vmac while it runs, so the node's ARP requests name its
// own address, never a VIP, and restores the value it found on exit; after
// a SIGKILL the next run restores the value from before the first run.
func TestLabARPAnnounce(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 1, lab.WithoutIPv6())
	n := l.Nodes[0]
	vip := netip.MustParseAddr("198.18.0.64")
	if got := ipv4Conf(t, n, n.Iface, "arp_announce"); got != "0" {
		t.Fatalf("arp_announce is %s before carpd, want the kernel's 0", got)
	}
	args := carpArgs(n, "64", "0", "s3cret", vip.String())
	c := startCarpd(t, n, "", args...)
	c.waitState(t, "MASTER", 10*time.Second)
	if got := ipv4Conf(t, n, n.Iface, "arp_announce"); got != "2" {
		t.Errorf("arp_announce is %s while carpd runs, want 2", got)
	}
	if err := c.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	c2 := startCarpd(t, n, c.dir, args...)
	c2.waitState(t, "MASTER", 10*time.Second)
	if got := ipv4Conf(t, n, n.Iface, "arp_announce"); got != "2" {
		t.Errorf("arp_announce is %s after a restart, want 2", got)
	}
	if err := c2.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := ipv4Conf(t, n, n.Iface, "arp_announce"); got != "0" {
		t.Errorf("arp_announce is %s after carpd stopped, want the 0 it found before its first run", got)
	}
}

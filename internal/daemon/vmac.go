package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/carpd/carpd/internal/config"
)

// VMACNet is implemented by a Net that can give routers a vmac interface
// (config.Router.VMAC, docs/daemon.md "vmac"). New refuses vmac routers
// on a Net without it.
type VMACNet interface {
	// EnsureVMAC creates the macvlan child name of parent with mac, or
	// reuses one an earlier run left; either way it is down.
	EnsureVMAC(parent, name string, mac net.HardwareAddr) (reused bool, err error)
	// SetLinkUp sets an interface administratively up or down.
	SetLinkUp(name string, up bool) error
	// DeleteVMAC deletes the child; a missing one is not an error.
	DeleteVMAC(parent, name string) error
	// InetConf and SetInetConf read and write IPv4 devconf values by id
	// (link.Conf*).
	InetConf(iface string, ids ...int) (map[int]uint32, error)
	SetInetConf(iface string, vals map[int]uint32) error
	// AllRPFilter is net.ipv4.conf.all.rp_filter.
	AllRPFilter() (int, error)
	// Sender opens a send-only advert socket on iface with source src.
	Sender(iface string, family int, src netip.Addr) (PacketWriter, error)
}

// PacketWriter sends adverts; it never reads.
type PacketWriter interface {
	WriteTo(payload []byte, dst netip.Addr) error
	Close() error
}

// IPv4 devconf ids (linux/ip.h), as link.Conf*.
const (
	confRPFilter           = 8
	confARPFilter          = 13
	confARPAnnounce        = 18
	confARPIgnore          = 19
	confPromoteSecondaries = 20
)

// childConf is set on every vmac child. arp_ignore=1: the child answers
// ARP only for its own addresses (the VIPs), never for the node's
// address with the virtual MAC. rp_filter=0: clients' packets arrive on
// the child while the route back to them goes through the parent, which
// strict reverse-path filtering would take for spoofing. promote_
// secondaries=1: removing one VIP of a subnet keeps the others.
var childConf = map[int]uint32{confARPIgnore: 1, confRPFilter: 0, confPromoteSecondaries: 1}

// parentConf is set on the parent while it has a vmac child, and restored
// after: arp_ignore=1, so that the parent does not answer ARP for the VIPs
// (addresses of the child) with its own MAC, which is what the child
// exists to avoid; arp_filter=1, so that it answers only where the reply
// would be routed (keepalived sets both, vrrp_if_config.c). arp_announce=2
// as well: the master's answers to clients leave through the parent, and
// when it asks for a client's MAC the kernel would by default name the
// packet's source, the VIP, as sender, with the parent's MAC; the client
// then files the VIP under that MAC (RFC 826 merge), and after a takeover
// a client that ignores gratuitous ARP is back to waiting for its entry
// to expire. With 2 the request names the parent's own address.
var parentConf = map[int]uint32{confARPIgnore: 1, confARPFilter: 1, confARPAnnounce: 2}

// vmacs tracks the children carpd made and the parents whose settings it
// changed.
type vmacs struct {
	mu      sync.Mutex
	parents map[string]*parentState
}

// parentState is what a parent had before carpd's first child on it.
type parentState struct {
	refs  int
	saved map[int]uint32
}

// savedPath is where a parent's original settings are kept while carpd
// changed them, so that a run after a SIGKILL restores the right ones.
func (d *Daemon) savedPath(parent string) string {
	return filepath.Join(d.opts.StateDir, "vmac-"+parent+".json")
}

// prepareVMAC creates (or reuses) the child of s, down, and sets the
// settings of the child and the parent. Called before the router starts
// and before its leftovers are reconciled, which reads the child.
func (d *Daemon) prepareVMAC(s *config.Router) error {
	if !s.VMAC {
		return nil
	}
	vn, ok := d.net.(VMACNet)
	if !ok {
		return errors.New("vmac is not supported by this network stack")
	}
	reused, err := vn.EnsureVMAC(s.Iface, s.VMACIface, s.VMACAddr())
	if err != nil {
		return fmt.Errorf("router %s: vmac: %w", s.Name, err)
	}
	log := d.log.With(logAttrs(s)...)
	if reused {
		log.Warn("reusing the vmac interface an earlier run left", "vmac_iface", s.VMACIface)
	} else {
		log.Info("created the vmac interface", "vmac_iface", s.VMACIface, "mac", s.VMACAddr().String())
	}
	if err := vn.SetInetConf(s.VMACIface, childConf); err != nil {
		return fmt.Errorf("router %s: vmac: %w", s.Name, err)
	}
	if all, err := vn.AllRPFilter(); err == nil && all == 1 {
		log.Warn("net.ipv4.conf.all.rp_filter is 1 (strict), which overrides rp_filter=0 on the vmac interface: clients' packets to the VIP are dropped; set it to 0 or 2",
			"vmac_iface", s.VMACIface)
	}
	return d.holdParent(vn, s.Iface)
}

// holdParent sets parentConf on parent, saving what it was first.
func (d *Daemon) holdParent(vn VMACNet, parent string) error {
	d.vm.mu.Lock()
	defer d.vm.mu.Unlock()
	if d.vm.parents == nil {
		d.vm.parents = map[string]*parentState{}
	}
	if p, ok := d.vm.parents[parent]; ok {
		p.refs++
		return nil
	}
	saved, err := d.loadSaved(parent)
	if err != nil {
		if saved, err = vn.InetConf(parent, confARPIgnore, confARPFilter, confARPAnnounce); err != nil {
			return err
		}
		b, _ := json.Marshal(saved)
		if err := os.WriteFile(d.savedPath(parent), b, 0o600); err != nil {
			return fmt.Errorf("saving the settings of %s: %w", parent, err)
		}
	}
	if err := vn.SetInetConf(parent, parentConf); err != nil {
		return err
	}
	d.log.Info("set ARP settings of the vmac parent", "iface", parent, "arp_ignore", 1, "arp_filter", 1, "arp_announce", 2,
		"was_arp_ignore", saved[confARPIgnore], "was_arp_filter", saved[confARPFilter], "was_arp_announce", saved[confARPAnnounce])
	d.vm.parents[parent] = &parentState{refs: 1, saved: saved}
	return nil
}

// loadSaved reads the settings an earlier run saved for parent.
func (d *Daemon) loadSaved(parent string) (map[int]uint32, error) {
	b, err := os.ReadFile(d.savedPath(parent))
	if err != nil {
		return nil, err
	}
	saved := map[int]uint32{}
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, err
	}
	for id := range parentConf {
		if _, ok := saved[id]; !ok {
			return nil, errors.New("incomplete settings saved")
		}
	}
	d.log.Warn("restoring from the settings an earlier run saved", "iface", parent, "file", d.savedPath(parent))
	return saved, nil
}

// releaseVMAC deletes the child of s and, with the last child of its
// parent, restores the parent's settings that are still carpd's.
func (d *Daemon) releaseVMAC(s *config.Router) {
	vn, ok := d.net.(VMACNet)
	if !s.VMAC || !ok {
		return
	}
	log := d.log.With(logAttrs(s)...)
	if err := vn.DeleteVMAC(s.Iface, s.VMACIface); err != nil {
		log.Error("deleting the vmac interface", "vmac_iface", s.VMACIface, "error", err)
	} else {
		log.Info("deleted the vmac interface", "vmac_iface", s.VMACIface)
	}
	d.vm.mu.Lock()
	defer d.vm.mu.Unlock()
	p, ok := d.vm.parents[s.Iface]
	if !ok {
		return
	}
	if p.refs--; p.refs > 0 {
		return
	}
	delete(d.vm.parents, s.Iface)
	now, err := vn.InetConf(s.Iface, confARPIgnore, confARPFilter, confARPAnnounce)
	if err != nil {
		log.Error("reading the ARP settings to restore", "error", err)
		return
	}
	restore := map[int]uint32{}
	for id, v := range p.saved {
		// Someone else changed it since: theirs stays.
		if now[id] == parentConf[id] {
			restore[id] = v
		}
	}
	if !maps.Equal(restore, p.saved) {
		log.Warn("ARP settings of the parent changed behind carpd; leaving those", "now", now)
	}
	if err := vn.SetInetConf(s.Iface, restore); err != nil {
		log.Error("restoring the ARP settings", "error", err)
		return
	}
	_ = os.Remove(d.savedPath(s.Iface))
	log.Info("restored the ARP settings of the vmac parent", "arp_ignore", p.saved[confARPIgnore], "arp_filter", p.saved[confARPFilter],
		"arp_announce", p.saved[confARPAnnounce])
}

// addrIface is the interface the VIPs of s live on.
func addrIface(s *config.Router) string {
	if s.VMAC {
		return s.VMACIface
	}
	return s.Iface
}

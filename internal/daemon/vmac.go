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
	// AddLinkLocal puts the link-local address ll on the child, which is
	// up (IPv6: the adverts' source, link.AddLinkLocal).
	AddLinkLocal(iface string, ll netip.Addr) error
	// SetIPv6Conf writes net.ipv6.conf.IFACE.NAME (/proc/sys only).
	SetIPv6Conf(iface, name string, v int) error
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

// plainConf is set on the interface of every router without vmac whose
// VIPs carpd manages, and restored after: arp_announce=2 for the reason
// given at parentConf. Without vmac the VIP's MAC is the node's own, so a
// master naming the VIP does no harm; a node that is not master does: the
// old master of a handover resets its clients after the new master's
// announcement, and an ARP request for a client that names the VIP moves
// the client back to it just before it lets the VIP go (the client's next
// SYN then waits for its 1 s retransmission), and during a cut between the
// nodes the other master's requests would flip the clients between them.
var plainConf = map[int]uint32{confARPAnnounce: 2}

// confIDs are the settings carpd may change on an interface.
var confIDs = []int{confARPIgnore, confARPFilter, confARPAnnounce}

// vmacs tracks the children carpd made and the interfaces whose settings
// it changed.
type vmacs struct {
	mu      sync.Mutex
	parents map[string]*parentState
}

// parentState is what an interface had before carpd changed it, and how
// many routers need each changed setting.
type parentState struct {
	refs  map[int]int
	saved map[int]uint32
}

// savedPath is where an interface's original settings are kept while
// carpd changed them, so that a run after a SIGKILL restores the right
// ones.
func (d *Daemon) savedPath(parent string) string {
	return filepath.Join(d.opts.StateDir, "vmac-"+parent+".json")
}

// prepareVMAC creates (or reuses) the child of a vmac router, down, and
// sets the settings of the child and the parent (parentConf); for a
// router without vmac it sets plainConf on its interface. Called before
// the router starts and before its leftovers are reconciled, which reads
// the child. A Net that cannot change interface settings (tests) skips
// plainConf.
func (d *Daemon) prepareVMAC(s *config.Router) error {
	if !s.VMAC {
		if vn, ok := d.net.(VMACNet); ok && !s.VIPByScripts {
			if err := d.holdConf(vn, s.Iface, plainConf); err != nil {
				// Not fatal: carpd works without it, with the risk described
				// at plainConf.
				d.log.With(logAttrs(s)...).Warn("could not set arp_announce=2", "error", err)
			}
		}
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
	// accept_ra=0: the child hears router advertisements (it is in
	// ff02::1), and with a link-local address, or an IPv4 child's none,
	// the kernel would still autoconfigure a global address from each
	// prefix, built from the virtual MAC (addrconf_prefix_rcv: address
	// generation mode none stops only the link-local one), and install a
	// default route through the child: while MASTER, the node's own
	// traffic could leave by the child with the virtual MAC and an
	// address both nodes generate. rtnetlink cannot set it
	// (inet6_set_link_af), so it is written to /proc/sys; under systemd's
	// ProtectKernelTunables= that fails and is logged (docs/vmac.md).
	if err := vn.SetIPv6Conf(s.VMACIface, "accept_ra", 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("could not set accept_ra=0 on the vmac interface: router advertisements on the segment would give it an address and a default route while MASTER; set net.ipv6.conf."+
			s.VMACIface+".accept_ra=0 in /etc/sysctl.d (docs/vmac.md)", "vmac_iface", s.VMACIface, "error", err)
	}
	if family(s) == 6 {
		// The IPv4 ARP settings have nothing to do with an IPv6 router:
		// the parent does not answer neighbour solicitations for an
		// address of the child (ndisc_recv_ns looks the target up on the
		// receiving interface only), and the master's solicitations
		// name the parent's own address, never a VIP of the child.
		return nil
	}
	if err := vn.SetInetConf(s.VMACIface, childConf); err != nil {
		return fmt.Errorf("router %s: vmac: %w", s.Name, err)
	}
	if all, err := vn.AllRPFilter(); err == nil && all == 1 {
		log.Warn("net.ipv4.conf.all.rp_filter is 1 (strict), which overrides rp_filter=0 on the vmac interface: clients' packets to the VIP are dropped; set it to 0 or 2",
			"vmac_iface", s.VMACIface)
	}
	return d.holdConf(vn, s.Iface, parentConf)
}

// holdConf sets conf on iface, saving what each setting was before carpd
// first changed it (in memory and in savedPath, for a run after a
// SIGKILL).
func (d *Daemon) holdConf(vn VMACNet, iface string, conf map[int]uint32) error {
	d.vm.mu.Lock()
	defer d.vm.mu.Unlock()
	if d.vm.parents == nil {
		d.vm.parents = map[string]*parentState{}
	}
	p, ok := d.vm.parents[iface]
	if !ok {
		saved, err := d.loadSaved(iface)
		if err != nil {
			saved = map[int]uint32{}
		}
		p = &parentState{refs: map[int]int{}, saved: saved}
	}
	var missing []int
	for id := range conf {
		if _, ok := p.saved[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		was, err := vn.InetConf(iface, missing...)
		if err != nil {
			return err
		}
		maps.Copy(p.saved, was)
		b, _ := json.Marshal(p.saved)
		if err := os.WriteFile(d.savedPath(iface), b, 0o600); err != nil {
			return fmt.Errorf("saving the settings of %s: %w", iface, err)
		}
	}
	if err := vn.SetInetConf(iface, conf); err != nil {
		return err
	}
	for id := range conf {
		p.refs[id]++
	}
	d.vm.parents[iface] = p
	attrs := []any{"iface", iface}
	for _, id := range confIDs {
		if v, ok := conf[id]; ok {
			attrs = append(attrs, confNames[id], v, "was_"+confNames[id], p.saved[id])
		}
	}
	d.log.Info("set ARP settings of the interface", attrs...)
	return nil
}

// confNames are the sysctl names of confIDs.
var confNames = map[int]string{confARPIgnore: "arp_ignore", confARPFilter: "arp_filter", confARPAnnounce: "arp_announce"}

// loadSaved reads the settings an earlier run saved for iface.
func (d *Daemon) loadSaved(iface string) (map[int]uint32, error) {
	b, err := os.ReadFile(d.savedPath(iface))
	if err != nil {
		return nil, err
	}
	saved := map[int]uint32{}
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, err
	}
	d.log.Warn("restoring from the settings an earlier run saved", "iface", iface, "file", d.savedPath(iface))
	return saved, nil
}

// releaseVMAC deletes the child of a vmac router and releases its
// parent's settings; for a router without vmac it releases plainConf.
func (d *Daemon) releaseVMAC(s *config.Router) {
	vn, ok := d.net.(VMACNet)
	if !ok {
		return
	}
	if !s.VMAC {
		if !s.VIPByScripts {
			d.releaseConf(vn, s, plainConf)
		}
		return
	}
	log := d.log.With(logAttrs(s)...)
	if err := vn.DeleteVMAC(s.Iface, s.VMACIface); err != nil {
		log.Error("deleting the vmac interface", "vmac_iface", s.VMACIface, "error", err)
	} else {
		log.Info("deleted the vmac interface", "vmac_iface", s.VMACIface)
	}
	if family(s) == 4 {
		d.releaseConf(vn, s, parentConf)
	}
}

// releaseConf drops s's need for conf on its interface and restores each
// setting no router needs any more, unless someone else changed it since.
func (d *Daemon) releaseConf(vn VMACNet, s *config.Router, conf map[int]uint32) {
	log := d.log.With(logAttrs(s)...)
	d.vm.mu.Lock()
	defer d.vm.mu.Unlock()
	p, ok := d.vm.parents[s.Iface]
	if !ok {
		return
	}
	var done []int
	for id := range conf {
		if p.refs[id] == 0 {
			continue // never held (its hold failed)
		}
		if p.refs[id]--; p.refs[id] == 0 {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return
	}
	now, err := vn.InetConf(s.Iface, done...)
	if err != nil {
		log.Error("reading the ARP settings to restore", "error", err)
		return
	}
	restore := map[int]uint32{}
	attrs := []any{}
	for _, id := range done {
		// Someone else changed it since: theirs stays.
		if now[id] == conf[id] {
			restore[id] = p.saved[id]
			attrs = append(attrs, confNames[id], p.saved[id])
		} else {
			log.Warn("ARP setting changed behind carpd; leaving it", "setting", confNames[id], "now", now[id])
		}
		delete(p.saved, id)
		delete(p.refs, id)
	}
	if err := vn.SetInetConf(s.Iface, restore); err != nil {
		log.Error("restoring the ARP settings", "error", err)
		return
	}
	if len(p.saved) == 0 {
		delete(d.vm.parents, s.Iface)
		_ = os.Remove(d.savedPath(s.Iface))
	} else {
		b, _ := json.Marshal(p.saved)
		_ = os.WriteFile(d.savedPath(s.Iface), b, 0o600)
	}
	log.Info("restored the ARP settings of the interface", attrs...)
}

// addrIface is the interface the VIPs of s live on.
func addrIface(s *config.Router) string {
	if s.VMAC {
		return s.VMACIface
	}
	return s.Iface
}

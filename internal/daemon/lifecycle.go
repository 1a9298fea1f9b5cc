package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
)

// ifaceRes are the per-interface handles shared by the routers on it.
type ifaceRes struct {
	addrs AddrSet
	ann   Announcer
}

func (res *ifaceRes) close() {
	if res.ann != nil {
		_ = res.ann.Close()
	}
}

// iface returns the shared handles of name, opening them on first use.
// Called with d.mu held.
func (d *Daemon) iface(name string) (*ifaceRes, error) {
	if res, ok := d.ifaces[name]; ok {
		return res, nil
	}
	addrs, err := d.net.Addrs(name)
	if err != nil {
		return nil, fmt.Errorf("opening addresses of %s: %w", name, err)
	}
	ann, err := d.net.Announcer(name)
	if err != nil {
		return nil, fmt.Errorf("opening announcer on %s: %w", name, err)
	}
	res := &ifaceRes{addrs: &lockedAddrs{set: addrs}, ann: &lockedAnnouncer{ann: ann}}
	d.ifaces[name] = res
	return res, nil
}

// lockedAddrs serialises calls from several executors on one interface.
type lockedAddrs struct {
	mu  sync.Mutex
	set AddrSet
}

func (l *lockedAddrs) Add(vip netip.Prefix, label string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set.Add(vip, label)
}

func (l *lockedAddrs) Remove(vip netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set.Remove(vip)
}

func (l *lockedAddrs) Has(a netip.Addr) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set.Has(a)
}

// Labeled forwards to the wrapped set if it can list labels.
func (l *lockedAddrs) Labeled(label string) ([]netip.Prefix, error) {
	ll, ok := l.set.(LabelLister)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return ll.Labeled(label)
}

// lockedAnnouncer serialises announce rounds on one interface.
type lockedAnnouncer struct {
	mu  sync.Mutex
	ann Announcer
}

func (l *lockedAnnouncer) Announce(vips []netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ann.Announce(vips)
}

func (l *lockedAnnouncer) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ann.Close()
}

// reconcile removes what a crashed run may have left: the VIPs of specs,
// and addresses carrying our labels, before any router enters BACKUP.
// Failures are logged; the routers' own removals retry later.
func (d *Daemon) reconcile(specs []*config.Router) {
	for _, s := range specs {
		log := d.log.With(logAttrs(s)...)
		if s.VIPByScripts {
			log.Info("VIPs are managed by the scripts; not removing leftovers")
			continue
		}
		d.mu.Lock()
		res, err := d.iface(addrIface(s))
		d.mu.Unlock()
		if err != nil {
			log.Error("reconciling leftovers", "error", err)
			continue
		}
		stale := slices.Clone(s.VIPs)
		label := d.net.Label(addrIface(s), s.Machine.Proto, s.Machine.ID)
		if ll, ok := res.addrs.(LabelLister); ok {
			extra, err := ll.Labeled(label)
			if err != nil && !errors.Is(err, errors.ErrUnsupported) {
				log.Warn("listing addresses labelled "+label, "error", err)
			}
			stale = append(stale, extra...)
		}
		for _, p := range stale {
			had, err := res.addrs.Has(p.Addr())
			if err == nil && !had {
				continue
			}
			if err := res.addrs.Remove(p); err != nil {
				log.Error("removing leftover VIP", "vip", p.String(), "error", err)
				continue
			}
			if still, err := res.addrs.Has(p.Addr()); err == nil && still {
				// Removal matches the prefix length too.
				log.Error("leftover VIP has another prefix length; not removed", "vip", p.String())
				continue
			}
			log.Warn("removed leftover VIP", "vip", p.String())
		}
	}
}

// startRouter creates and starts the router of s.
func (d *Daemon) startRouter(s *config.Router) error {
	log := d.log.With(logAttrs(s)...)
	m, err := carp.NewMachine(s.Machine)
	if err != nil {
		return err
	}
	rp := newReplay(s.Machine.Addr)
	enc, err := newEncoder(s, rp)
	if err != nil {
		return err
	}
	dec, err := newDecoder(s, rp)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.iface(addrIface(s))
	if err != nil {
		return err
	}
	sock, err := d.acquireSocket(s)
	if err != nil {
		return err
	}
	var vsend PacketWriter
	if s.VMAC {
		if vsend, err = d.net.(VMACNet).Sender(s.VMACIface, family(s), sock.conn.Src()); err != nil {
			d.releaseSocket(sock)
			return fmt.Errorf("opening the advert socket on %s: %w", s.VMACIface, err)
		}
	}
	r := &router{
		d: d, base: s, log: log, sock: sock, ctr: &counters{}, rp: rp,
		adverts: make(chan carp.Advert, d.opts.QueueLen), ctl: make(chan func(time.Time), 16),
		peerIn: make(chan peerBeat, 4), tick: make(chan struct{}, 1),
		done: make(chan struct{}), spec: s, m: m, enc: enc, vsend: vsend,
		faults: make(map[fault]bool), track: make(map[string]int), rec: newRecord(d.statusChanged),
	}
	r.exec = newExecutor(d.hookCtx, log, s, res.addrs, res.ann, d.net.Label(addrIface(s), s.Machine.Proto, s.Machine.ID),
		r.ctr, r.claimResult)
	if s.VMAC {
		vn, child, ll := d.net.(VMACNet), s.VMACIface, netip.Addr{}
		if family(s) == 6 {
			// The adverts' source, which the child must hold to send
			// them (link.AddLinkLocal); going down drops it again.
			ll = sock.conn.Src()
		}
		r.exec.vlink = func(up bool) error {
			if err := vn.SetLinkUp(child, up); err != nil || !up || !ll.IsValid() {
				return err
			}
			return vn.AddLinkLocal(child, ll)
		}
	}
	r.exec.rec, r.exec.user, r.user = r.rec, d.user, d.user
	r.setSpecSnap()
	sock.set(r.rxEntry(dec), false)
	d.routers[s.Name] = r
	d.order = append(d.order, s.Name)
	d.hassAdd(r)
	// Before the goroutines start: the executor reads bsvc unlocked (the
	// race detector saw it written after). A health demotion queued here
	// runs once the router has booted, as before.
	d.attachBroker(r)
	go r.exec.run()
	go r.run()
	return nil
}

// stopRouter shuts r down, waits for its executor and releases its
// socket.
func (d *Daemon) stopRouter(r *router, why string) {
	r.shutdown(why)
	<-r.exec.done
	d.mu.Lock()
	defer d.mu.Unlock()
	r.sock.set(&rxEntry{name: r.base.Name, id: r.base.Machine.ID}, true)
	d.releaseSocket(r.sock)
	if r.vsend != nil {
		_ = r.vsend.Close()
	}
	if r.base.VMAC {
		// The announcer and address handles of the child go with it.
		if res, ok := d.ifaces[r.base.VMACIface]; ok {
			res.close()
			delete(d.ifaces, r.base.VMACIface)
		}
	}
	d.releaseVMAC(r.base)
	if d.routers[r.base.Name] == r {
		delete(d.routers, r.base.Name)
		d.order = slices.DeleteFunc(d.order, func(n string) bool { return n == r.base.Name })
	}
}

// acquireSocket returns the shared socket for s, opening it if needed.
// Called with d.mu held.
func (d *Daemon) acquireSocket(s *config.Router) (*socket, error) {
	k := routerSockKey(s)
	if sock, ok := d.sockets[k]; ok {
		sock.refs++
		return sock, nil
	}
	conn, err := d.net.Listen(s.Iface, k.family, ListenOptions{Src: s.SrcIP, Group: k.group, Unicast: k.unicast})
	if err != nil {
		return nil, fmt.Errorf("opening IPv%d socket on %s: %w", k.family, s.Iface, err)
	}
	sock := newSocket(k, conn, d.log.With("iface", s.Iface, "family", k.family))
	sock.refs = 1
	d.sockets[k] = sock
	return sock, nil
}

// releaseSocket drops one reference and closes the socket with the last.
// Called with d.mu held.
func (d *Daemon) releaseSocket(s *socket) {
	s.refs--
	if s.refs > 0 {
		return
	}
	delete(d.sockets, s.key)
	if err := s.close(); err != nil {
		d.log.Debug("closing socket", "iface", s.key.iface, "error", err)
	}
}

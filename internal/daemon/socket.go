package daemon

import (
	"github.com/carpd/carpd/internal/link"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/carp"
)

// readBufSize holds any IP payload.
const readBufSize = 1 << 16

// rxEntry is what a socket's reader needs to accept one router's adverts.
type rxEntry struct {
	name    string
	proto   carp.Proto
	id      uint8
	dec     *decoder // used by the reader goroutine only
	ctr     *counters
	deliver func(carp.Advert) bool // non-blocking; false = queue full
}

// rxTable maps a vhid/vrid to the routers using it on one socket: at most
// one CARP or VRRPv2 router (they share version 2) and one VRRPv3 router.
// An array rather than a map: the reader indexes it for every packet, and
// a map's hash and probe were a measurable part of a BACKUP's wakeup
// (docs/daemon.md, "Cost of an advertisement"); it is copied only when a
// router comes or goes.
type rxTable [256][]*rxEntry

// socket is a protocol 112 socket shared by the routers of one interface
// and family (one socket per router would copy every advert to
// every socket). Its reader demultiplexes by the id in byte 1.
type socket struct {
	key  sockKey
	conn PacketConn
	log  *slog.Logger
	ctr  counters // packets that belong to no router

	table  atomic.Pointer[rxTable]
	tmu    sync.Mutex // serialises table updates
	wmu    sync.Mutex // serialises WriteTo from the router goroutines
	closed atomic.Bool
	done   chan struct{}
	refs   int // routers using it; guarded by Daemon.mu
}

// newSocket wraps conn and starts its reader.
func newSocket(key sockKey, conn PacketConn, log *slog.Logger) *socket {
	s := &socket{key: key, conn: conn, log: log, done: make(chan struct{})}
	s.table.Store(&rxTable{})
	go s.read()
	return s
}

// set installs e for its id, replacing the entry of the same router, or
// removes that router's entry when del is set. The table is copied on
// write, so the reader never locks.
func (s *socket) set(e *rxEntry, del bool) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	t := *s.table.Load()
	var kept []*rxEntry
	for _, x := range t[e.id] {
		if x.name != e.name {
			kept = append(kept, x)
		}
	}
	if !del {
		kept = append(kept, e)
	}
	t[e.id] = kept
	s.table.Store(&t)
}

// lookup returns the router for an id and version nibble: the one whose
// protocol has that version, else any router with the id (which then
// counts a version drop), else nil.
func (s *socket) lookup(id, version uint8) *rxEntry {
	es := (*s.table.Load())[id]
	for _, e := range es {
		if (version == 3) == (e.proto == carp.ProtoVRRP3) {
			return e
		}
	}
	if len(es) > 0 {
		return es[0]
	}
	return nil
}

// read is the reader goroutine; it ends when the socket is closed.
func (s *socket) read() {
	defer close(s.done)
	buf := make([]byte, readBufSize)
	backoff := time.Millisecond
	for {
		p, err := s.conn.ReadPacket(buf)
		if err != nil {
			if s.closed.Load() {
				return
			}
			s.log.Warn("reading advertisements", "error", err)
			time.Sleep(backoff) // a persistent error must not spin
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = time.Millisecond
		s.handle(p)
	}
}

// handle demultiplexes, decodes and delivers one packet.
func (s *socket) handle(p link.Packet) {
	if len(p.Payload) < 2 {
		s.ctr.drop(dropShort)
		return
	}
	e := s.lookup(p.Payload[1], p.Payload[0]>>4)
	if e == nil {
		s.ctr.drop(dropID)
		return
	}
	if src := s.conn.Src(); p.Src.WithZone("") == src.WithZone("") {
		e.ctr.drop(dropLoop)
		return
	}
	ad, err := e.dec.decode(p)
	if err != nil {
		e.ctr.drop(reasonOf(err))
		return
	}
	if !e.deliver(ad) {
		e.ctr.drop(dropQueue)
	}
}

// write sends one advert.
func (s *socket) write(b []byte, dst netip.Addr) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteTo(b, dst)
}

// close closes the connection and waits for the reader to end.
func (s *socket) close() error {
	s.closed.Store(true)
	err := s.conn.Close()
	<-s.done
	return err
}

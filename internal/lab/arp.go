//go:build linux

package lab

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/arp"
)

// ARPOwner resolves vip from the lab's client namespace and returns the MAC
// that answered within wait (os.ErrDeadlineExceeded when none did), so a
// probe loop keeps its period while nobody answers.
func (l *Lab) ARPOwner(vip netip.Addr, wait time.Duration) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
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
		if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		mac, err = c.Resolve(vip)
		return err
	})
	return mac, err
}

// Takeover is what the client's ARP probes saw after a fault.
type Takeover struct {
	// Took is the time from the start to the first answer from the new
	// master; zero when none came.
	Took time.Duration
	// Owners are the MACs that answered, in order, listed again only when
	// they change; NewAt indexes the new master's first answer.
	Owners []string
	NewAt  int
}

// Flaps counts the changes of the answering MAC after the new master's
// first answer (0 is a clean takeover).
func (w Takeover) Flaps() int {
	if w.Took == 0 {
		return 0
	}
	return len(w.Owners) - 1 - w.NewAt
}

// WatchTakeover probes vip from the client every `every` until want
// answers and `settle` more, or until limit after start. It returns an
// error only when probing itself fails.
func (l *Lab) WatchTakeover(vip netip.Addr, want net.HardwareAddr, start time.Time, limit, every, settle time.Duration) (Takeover, error) {
	var w Takeover
	tick := time.NewTicker(every)
	defer tick.Stop()
	end := start.Add(limit)
	for time.Now().Before(end) {
		mac, err := l.ARPOwner(vip, every)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			return w, err
		default:
			if len(w.Owners) == 0 || w.Owners[len(w.Owners)-1] != mac.String() {
				w.Owners = append(w.Owners, mac.String())
			}
			if w.Took == 0 && mac.String() == want.String() {
				w.Took = time.Since(start)
				w.NewAt = len(w.Owners) - 1
				end = time.Now().Add(settle)
			}
		}
		<-tick.C
	}
	return w, nil
}

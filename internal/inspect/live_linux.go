//go:build linux

package inspect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/carpd/carpd/internal/pcapfile"
	"github.com/mdlayher/packet"
)

// ethPAll is ETH_P_ALL: every frame, whatever its EtherType.
const ethPAll = 0x0003

// Live captures on an interface with an AF_PACKET socket (pure Go: no
// libpcap), promiscuous like tcpdump, and passes each protocol 112 packet
// to emit, until Packets reaches count (0: no limit) or ctx ends.
func (in *Inspector) Live(ctx context.Context, name string, count int, emit func(Record) error) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("finding interface: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Raw, ethPAll, nil)
	if err != nil {
		return fmt.Errorf("opening packet socket on %s (needs root or CAP_NET_RAW): %w", name, err)
	}
	defer c.Close()
	if err := c.SetPromiscuous(true); err != nil {
		return fmt.Errorf("setting %s promiscuous: %w", name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A past deadline unblocks the pending read when we are told to stop.
	go func() {
		<-ctx.Done()
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}()
	lt := pcapfile.LinkTypeEthernet
	if len(ifi.HardwareAddr) != 6 {
		lt = pcapfile.LinkTypeRaw
	}
	buf := make([]byte, 65536)
	for count == 0 || in.n < count {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("reading from %s: %w", name, err)
		}
		if r, ok := in.Frame(time.Now(), lt, buf[:n]); ok {
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	return nil
}

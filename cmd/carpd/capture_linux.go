//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carpd/carpd/internal/pcapfile"
	"github.com/mdlayher/packet"
)

// ethPAll is ETH_P_ALL: every frame, whatever its EtherType.
const ethPAll = 0x0003

// live captures on an interface with an AF_PACKET socket (pure Go: no
// libpcap), promiscuous like tcpdump, until count packets, the timeout,
// or SIGINT/SIGTERM.
func (in *inspector) live(ctx context.Context, name string, count int, timeout time.Duration) error {
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
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
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
		if err := in.frame(time.Now(), lt, buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

//go:build !linux

package daemon

import (
	"errors"
	"net/netip"

	"github.com/carpd/carpd/internal/config"
)

// brokerSvc exists on Linux only; elsewhere a broker section is refused.
type brokerSvc struct{ brokerSteps }

func newBrokerSvc(*Daemon, *config.Broker, netip.AddrPort) (*brokerSvc, error) {
	return nil, errors.New("broker supervision needs Linux")
}

func (*brokerSvc) start()                {}
func (*brokerSvc) stop()                 {}
func (*brokerSvc) interrupt()            {}
func (*brokerSvc) isUnhealthy() bool     { return false }
func (*brokerSvc) status() *BrokerStatus { return nil }

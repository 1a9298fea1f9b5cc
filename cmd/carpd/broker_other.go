//go:build !linux

package main

import (
	"errors"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/daemon"
)

// newBroker refuses a broker section: supervising it needs Linux.
func newBroker(f *config.File, _ string) func(daemon.BrokerHost) (daemon.Broker, error) {
	if f.Broker == nil {
		return nil
	}
	return func(daemon.BrokerHost) (daemon.Broker, error) {
		return nil, errors.New("broker supervision needs Linux")
	}
}

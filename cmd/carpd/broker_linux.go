//go:build linux

package main

import (
	"github.com/carpd/carpd/internal/broker"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/daemon"
)

// newBroker wires the supervised broker of f (internal/broker) into the
// daemon; nil without a broker section.
func newBroker(f *config.File, version string) func(daemon.BrokerHost) (daemon.Broker, error) {
	if f.Broker == nil {
		return nil
	}
	c := broker.Config{Broker: f.Broker, StateDir: f.StateDir, Version: version}
	if c.StateDir == "" {
		c.StateDir = config.DefaultStateDir // as the daemon's own
	}
	return func(h daemon.BrokerHost) (daemon.Broker, error) {
		s, err := broker.New(c, h)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

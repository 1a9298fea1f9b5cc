//go:build linux

package config

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSystemAddrs(t *testing.T) {
	addrs, err := systemAddrs("lo")
	if err != nil {
		t.Skipf("no loopback interface here: %v", err)
	}
	if !slices.Contains(addrs, netip.MustParsePrefix("127.0.0.1/8")) {
		t.Errorf("lo addresses %v lack 127.0.0.1", addrs)
	}
	if _, err := systemAddrs("carpd-nonexist"); err == nil {
		t.Error("a missing interface gave no error")
	}
}

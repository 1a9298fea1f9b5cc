package config

import (
	"fmt"
	"net"
	"strconv"
)

// checkListen accepts a TCP listen address as net.Listen takes it:
// "host:port", "[v6]:port" or ":port" (every address).
func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: port %q is not a number in 1..65535", s, port)
	}
	return nil
}

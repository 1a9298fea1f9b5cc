package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The parsers below turn one typed value into a Go value or a reason. The
// YAML walker and the command line share them, so both refuse the same
// things with the same words; the caller prefixes the key or flag.

// parseInt reads a decimal integer, as ucarp's strtoul(…, 10) would but
// without its silent wrap-around past 255.
func parseInt(s string, lo, hi int) (int, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return inRange(n, lo, hi)
}

func inRange(n int64, lo, hi int) (int, error) {
	if n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
	}
	return int(n), nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("%q has no unit: write e.g. %ss or %sms", s, s, s)
		}
		return 0, fmt.Errorf("%q is not a duration (e.g. 1s, 100ms)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%v is negative", d)
	}
	return d, nil
}

// parseAddr accepts a plain IP address: no zone, IPv4-mapped IPv6 taken as
// IPv4 (what the kernel does with it).
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zones are not allowed, the interface is the router's iface", s)
	}
	return a.Unmap(), nil
}

// parseVIP accepts an address or address/prefix; a bare address is a host
// prefix, the way carpd adds it.
func parseVIP(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q is not an address or address/prefix", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			if !p.IsValid() {
				return p, fmt.Errorf("%q: prefix too short for an IPv4-mapped address", s)
			}
		}
	} else {
		a, err := parseAddr(s)
		if err != nil {
			return p, err
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err := unicastAddr(p.Addr()); err != nil {
		return p, fmt.Errorf("%s %w", p.Addr(), err)
	}
	return p, nil
}

// unicastAddr refuses addresses no virtual router can own.
func unicastAddr(a netip.Addr) error {
	switch {
	case a.IsUnspecified():
		return errors.New("is the unspecified address")
	case a.IsLoopback():
		return errors.New("is a loopback address")
	case a.IsMulticast():
		return errors.New("is a multicast address")
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return errors.New("is the broadcast address")
	}
	return nil
}

// checkArgv refuses argv lists exec cannot run.
func checkArgv(argv []string) error {
	if len(argv) == 0 {
		return errors.New("empty: give the program and its arguments as a list")
	}
	if argv[0] == "" {
		return errors.New("the program name is empty")
	}
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return errors.New("contains a NUL byte")
		}
	}
	return nil
}

// checkIface applies Linux dev_valid_name: 1..15 bytes, no '/', ':' or
// white space, not "." or "..".
func checkIface(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > 15:
		return fmt.Errorf("%q is longer than 15 bytes (IFNAMSIZ)", s)
	case s == "." || s == "..", strings.ContainsAny(s, "/: \t\n\r\v\f"):
		return fmt.Errorf("%q is not a valid interface name", s)
	}
	return nil
}

// checkName keeps router names usable as file names under state_dir, in
// environment variables and as the keepalived notify argument.
func checkName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q must be 1..64 characters", s)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '_' || c == '-' || c == '.')
		if !ok {
			return fmt.Errorf("%q may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit", s)
		}
	}
	return nil
}

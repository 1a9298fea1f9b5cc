//go:build !linux

package inspect

import (
	"context"
	"errors"
)

// Live needs AF_PACKET, which only Linux has.
func (in *Inspector) Live(context.Context, string, int, func(Record) error) error {
	return errors.New("live capture needs Linux; capture with tcpdump -w and inspect the file")
}

//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

func (in *inspector) live(context.Context, string, int, time.Duration) error {
	return errors.New("live capture needs Linux; capture with tcpdump -w and inspect the file")
}

//go:build !linux

package daemon

// NewLinux returns nil outside Linux: carpd's edge (raw sockets, netlink)
// is Linux-only, and New refuses a nil Net with a clear error.
func NewLinux() Net { return nil }

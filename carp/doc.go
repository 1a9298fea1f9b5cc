// Package carp owns the wire and the election: CARP v2 (OpenBSD, FreeBSD,
// ucarp) and VRRP v2/v3 (RFC 3768, RFC 5798/9568, keepalived) codecs with
// encoding.BinaryUnmarshaler and encoding.BinaryAppender methods, CARP's
// HMAC-SHA1 and VRRPv2's simple password, and Machine, the
// per-virtual-router state machine.
//
// The package imports no gopacket and registers nothing at init. The
// gopacket layers that wrap the codecs, and the hook that makes
// gopacket.NewPacket decode IP protocol 112 as CARP or VRRP, are in package
// carplayers, kept out of the daemon because it links gopacket/layers,
// whose tables cost 6.7 MiB of RSS.
//
// The package is pure: it never opens a socket, reads a clock, starts a
// goroutine or logs. Callers hand in bytes and times and get back decoded
// headers, typed errors and actions. Nothing here may import internal/.
package carp

// Package carp owns the wire and the election: CARP v2 (OpenBSD, FreeBSD,
// ucarp) and VRRP v2/v3 (RFC 3768, RFC 5798/9568, keepalived) codecs
// registered as gopacket layers, CARP's HMAC-SHA1 and VRRPv2's simple
// password, and Machine, the per-virtual-router state machine.
//
// The codecs need only gopacket's core. For gopacket.NewPacket to decode IP
// protocol 112 in a whole frame as CARP or VRRP, import package carplayers
// for its side effect; it is separate because it links gopacket/layers,
// whose tables cost the daemon 6.7 MiB of RSS.
//
// The package is pure: it never opens a socket, reads a clock, starts a
// goroutine or logs. Callers hand in bytes and times and get back decoded
// headers, typed errors and actions. Nothing here may import internal/.
package carp

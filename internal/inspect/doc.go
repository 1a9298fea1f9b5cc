// Package inspect is the engine of `carpd inspect`: it finds the IP
// protocol 112 packet in a captured frame (Ethernet, VLAN tags, Linux
// SLL and SLL2, raw IP, IP-in-IP), tells CARP from VRRP, decodes it with
// package carp's codecs, checks the checksum and the authentication (CARP
// HMAC, searching for the virtual addresses it covers; VRRPv2 PASS) and
// returns one Record per packet, which marshals to the JSON of --json and
// formats as the text line. Live reads frames from an interface with an
// AF_PACKET socket (Linux only).
//
// It does not parse flags, open capture files or print: cmd/carpd does.
// It must not import gopacket/layers, which the carpd binary does not
// link (see package carp/carplayers); the tests may.
package inspect

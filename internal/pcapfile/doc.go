// Package pcapfile reads packet capture files: classic pcap (both byte
// orders, microsecond and nanosecond timestamps) and pcapng (any number of
// sections and interfaces, each interface with its own link type and
// timestamp resolution), optionally gzip-compressed. It replaces
// gopacket/pcapgo in carpd inspect so that the daemon binary does not link
// gopacket/layers, whose init costs 6.7 MiB of RSS (see package
// carp/carplayers).
//
// The reader only reads: it never opens files, and it trusts nothing in
// them. Every length is checked against what is left before it is used, no
// record or block over 16 MiB is allocated, and a truncated or malformed
// file ends in an error that says where, never a panic.
//
// Formats: pcap as libpcap's pcap-savefile(5) describes it; pcapng as
// draft-ietf-opsawg-pcapng (Section Header, Interface Description,
// Enhanced, Simple and the obsolete Packet Block are read; other blocks
// are skipped).
package pcapfile

// Package nat steers TCP connections for a virtual address (VIP) to the
// broker's static address with destination NAT, and clears the connection
// tracking entries that would otherwise keep old flows pinned after a
// failover.
//
// Mosquitto exits when any listener cannot bind, so on a backup node it
// cannot listen on a VIP the node does not hold (docs/design.md §5.6). Instead it
// listens on the node's static address, and while the node is master carpd
// installs, for every configured port P,
//
//	ip daddr VIP tcp dport P dnat to STATIC:P
//
// in two base chains: nat prerouting for clients on the network, and nat
// output for clients on the node itself (Home Assistant on the broker host
// reaches the VIP through OUTPUT, never PREROUTING).
//
// The package owns exactly one table per address family, "ip carpd" and
// "ip6 carpd" (the name is configurable), and nothing else: it never flushes
// the ruleset, never touches another table, and replaces its own tables
// atomically in one nftables batch (add table, delete table, add table with
// chains and rules), so Docker, firewalld and iptables-nft rules stay as they
// are. google/nftables v0.3.0 has no owner tables (docs/design.md §5.4), so a table
// left behind by a killed daemon stays until the next Apply or Remove; it is
// harmless meanwhile because every rule matches the VIP, which by then lives
// on another node.
//
// Only nft.go talks to google/nftables and only conntrack.go to the
// conntrack netlink API, so a library upgrade touches one file each. The
// package never shells out to nft(8) or iptables(8); its tests do.
package nat

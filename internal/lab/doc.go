// Package lab builds throw-away network namespace labs for root tests: a
// switch namespace holding a bridge, node namespaces and a client namespace
// joined to it by veth pairs, and helpers to run programs in them, enter them
// from Go, cut links, and drop or partition traffic with nftables.
//
// It mirrors scripts/lab/netns.sh (same layout, names and addresses) so shell
// and Go labs look alike in captures and logs:
//
//	namespace <prefix>-sw   bridge "br0"; one port "pN" per node, "pc" for the client
//	namespace <prefix>-nN   interface "eth0" (veth peer of pN), lo up
//	namespace <prefix>-c    the client, interface "eth0" (peer of pc)
//
//	node N (1..99)  198.18.0.N/24  2001:2::N/64 (N written in decimal)  MAC 02:ca:4d:00:00:NN (NN = N in hex)
//	client          198.18.0.200/24  2001:2::200/64                     MAC 02:ca:4d:00:00:c8
//
// Node.Attach adds further segments for hosts with several interfaces: bridge
// "brS" in the switch namespace, and for each node attached to it an interface
// "ethS" with 198.18.S.N/24, 2001:2:0:S::N/64 and MAC 02:ca:4d:SS:00:NN.
//
// Only the benchmarking ranges 198.18.0.0/15 (RFC 2544) and 2001:2::/48
// (RFC 5180) are used, and no interface is ever created in the host
// namespace, not even briefly: each veth is created in the switch namespace
// with its peer placed directly in the node namespace. Addresses from .10 to
// .99 are free for virtual addresses as long as tests keep fewer than 10
// nodes.
//
// The lab shells out to ip(8) and nft(8). That is fine for tests; the carpd
// daemon itself never does. Everything a lab creates is removed by
// t.Cleanup, also when the test fails, panics or is skipped: processes
// started through it are stopped by PID, processes left in its namespaces are
// killed, and the namespaces are deleted. Only a killed test binary (for
// example by the -timeout alarm) leaves namespaces behind; their names start
// with "carpdlab-<pid>-" and can be removed with "ip netns del".
//
// The package is Linux-only and needs root; New skips the test otherwise.
package lab

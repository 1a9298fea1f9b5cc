# scripts/bench/pair.sh, sourced by pstat.sh and probe.sh after
# scripts/lab/netns.sh's lab_init: the carpd side of their settled pairs.
#
# carpd_node N PRIORITY starts $CARPD in node N with one VRRPv3 router
# (vrid 51, interval $iv seconds, VIP 198.18.0.10), logging to n<N>.log in
# the lab's directory; its PID is left in LAB_LAST_PID.
carpd_node() {
	printf 'routers:\n  - {name: r, iface: eth0, proto: vrrp3, vrid: 51, interval: %ss, priority: %s, vips: [198.18.0.10]}\n' \
		"$iv" "$2" >"$LAB_DIR/c$1.yaml"
	lab_bg "$1" "$LAB_DIR/n$1.log" "$CARPD" run --state-dir "$LAB_DIR/st$1" -c "$LAB_DIR/c$1.yaml"
}

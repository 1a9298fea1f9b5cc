// Package metrics exports a running carpd as Prometheus metrics, on an
// optional listen address (off by default).
//
// Every value is read from a status.Report at scrape time, so there is
// one source of truth for `carpd status`, status.json and the metrics,
// and the daemon's hot paths update nothing extra. The carpd_broker_*,
// carpd_nat_* and carpd_probe_* metrics come from Report.Broker (and its
// Probe) and appear only when carpd supervises a broker: the daemon feeds
// them by filling that section in Daemon.Status, and there is nothing to
// register. A duration not known yet (an empty string) exports no sample.
//
// Metrics (labels in braces):
//
//	carpd_router_info{router,iface,proto,id}                    1
//	carpd_router_state{router,state}                            1 for the current state (INIT, BACKUP, MASTER, FAULT), 0 for the others
//	carpd_router_state_since_timestamp_seconds{router}          when the current state was entered
//	carpd_router_transitions_total{router}                      state changes
//	carpd_router_last_transition_duration_seconds{router}       steps of the last finished transition
//	carpd_router_adverts_sent_total{router}                     advertisements sent
//	carpd_router_advert_send_errors_total{router}               advertisements that could not be sent
//	carpd_router_adverts_received_total{router}                 advertisements the state machine accepted
//	carpd_router_adverts_dropped_total{router,reason}           received and dropped, by reason (reasons seen so far)
//	carpd_router_garp_rounds_total{router}                      gratuitous ARP / unsolicited NA rounds (each covers every VIP)
//	carpd_router_demotion{router}                               total demotion
//	carpd_hook_failures_total{router,hook}                      failed hook runs (up, down, notify; hooks that failed so far)
//	carpd_build_info{version,goversion}                         1
//	carpd_config_last_reload_successful                         0 while the last reload was refused, else 1
//	carpd_config_last_reload_success_timestamp_seconds          when the running configuration was loaded (start or reload)
//	carpd_socket_dropped_total{iface,family,src,group,reason}   packets for no configured router
//	carpd_broker_ready                                          1 when the supervised broker passed its readiness check
//	carpd_broker_restarts_total                                 restarts after crashes
//	carpd_broker_time_to_ready_seconds                          readiness time of the last start
//	carpd_nat_rules                                             DNAT rules applied
//	carpd_probe_ok{direction}                                   1 when the last bridge probe in that direction arrived
//	carpd_probe_latency_seconds{direction}                      publish-to-delivery time (rtt) of the last successful probe
//	carpd_probe_failures{direction}                             failed probes in a row
//	carpd_probe_last_success_timestamp_seconds{direction}       when a probe last arrived
//
// Counters restart from 0 when a reload restarts a router; Prometheus's
// rate() handles that as a counter reset.
//
// Also exported, under client_golang's names, types and help texts so
// dashboards keep working: go_goroutines, go_threads, go_info{version},
// go_memstats_alloc_bytes, go_memstats_sys_bytes and, on Linux only,
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds.
//
// The package writes the text exposition format 0.0.4 itself and must
// not import prometheus/client_golang (or anything that pulls protobuf
// or procfs): their init costs every carpd RSS whether metrics are on or
// not, and cmd/carpd's TestNoPrometheusClient fails if they come back.
// Tests may use expfmt to parse what it writes.
package metrics

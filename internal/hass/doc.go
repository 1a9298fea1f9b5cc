// Package hass publishes carpd's cluster state to the local MQTT broker
// for Home Assistant: retained MQTT discovery configs (a binary_sensor per
// virtual router saying whether this node holds its VIP, a sensor per
// probed bridge direction with the replication latency), retained states
// and an availability topic whose "offline" is also the client's Will.
//
// The payload builders (payload.go) do no I/O; the Publisher
// (publisher.go) owns one MQTT client and never blocks its callers.
package hass

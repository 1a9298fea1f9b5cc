// Package sim runs several carp.Machine instances on a virtual clock over
// a virtual network segment, to check timing properties (one master,
// failover time, split brain and healing, flapping under loss, preemption,
// bow-out, demotion) over hours of simulated time in milliseconds.
//
// A simulation is deterministic for a seed: all randomness comes from one
// PCG source, and events run in (time, sequence) order. It owns no
// goroutines and reads no clock. Every run loop is bounded by MaxEvents.
package sim

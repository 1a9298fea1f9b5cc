package status

import "time"

// Peer is a router's view of the peer over the heartbeat, the second path
// besides adverts (docs/daemon.md, "Heartbeat"); absent when the
// heartbeat does not run (no broker probe peer) or split_brain is off.
type Peer struct {
	// SplitBrain is the router's split_brain: resolve or report.
	SplitBrain string `json:"split_brain"`
	// Node is the peer's broker address, from its last heartbeat.
	Node string `json:"node,omitempty"`
	// State is what the peer last said it is: INIT, BACKUP, MASTER or
	// FAULT. At is when that arrived; Age how long ago, when the status
	// was written.
	State string    `json:"state,omitempty"`
	At    time.Time `json:"at,omitzero"`
	Age   Duration  `json:"age,omitempty"`
	// Fresh: the last heartbeat is younger than the master-down interval
	// minus one advert interval, so the rules use it.
	Fresh bool `json:"fresh"`
	// Every is the time to the peer's next heartbeat, as its last one
	// said: its advert interval while either node needs the heartbeat
	// fast, else at least a second (docs/daemon.md, "Heartbeat").
	Every Duration `json:"every,omitempty"`
	// Advertised is the peer's preference as its heartbeat gave it.
	Advertised *Advertised `json:"advertised,omitempty"`
	// Heartbeats counts heartbeats received from the peer.
	Heartbeats uint64 `json:"heartbeats"`
	// AdvertsLost: our master-down timer is due while the peer is alive
	// and MASTER over the broker path (rule b); AdvertsLostTotal counts
	// such episodes.
	AdvertsLost      bool   `json:"adverts_lost"`
	AdvertsLostTotal uint64 `json:"adverts_lost_total"`
	// DualMaster: we and the peer are both MASTER now. DualSeconds is
	// the time spent so (carpd_split_brain_seconds_total).
	DualMaster  bool    `json:"dual_master"`
	DualSeconds float64 `json:"dual_master_seconds"`
}

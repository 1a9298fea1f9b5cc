package mosquitto

import "errors"

// The heartbeat rides on the probe's two connections (docs/daemon.md,
// "Heartbeat"): each node publishes its own on the PEER's broker, over the
// probe's authenticated connection to it, and reads the peer's on its
// local broker. That direction makes a heartbeat that arrives prove the
// network path between the two nodes, the one adverts take, rather than
// the bridge; and the topic is outside every bridged pattern, so nothing
// loops.

// errNoPeerSession is returned while the probe has no connection to the
// peer's broker (before the first round, or after a failure until the
// next round reconnects).
var errNoPeerSession = errors.New("no connection to the peer's broker")

// heartbeatTopics are the topic published on the peer and the one read
// locally; both empty when the heartbeat is off.
func (p *Probe) heartbeatTopics() (out, in string) {
	if p.cfg.HeartbeatTopic == "" || p.cfg.OnHeartbeat == nil {
		return "", ""
	}
	return p.cfg.HeartbeatTopic + "/" + p.cfg.Node, p.cfg.HeartbeatTopic + "/" + p.cfg.PeerNode
}

// heartbeatHandler hands the peer's heartbeats to OnHeartbeat.
func (p *Probe) heartbeatHandler(m message) {
	p.cfg.OnHeartbeat([]byte(m.payload), m.at)
}

// PublishHeartbeat publishes payload on the peer's broker, QoS 0, not
// retained: a lost heartbeat is replaced by the next, and a retained one
// would outlive its sender. payload must not be modified afterwards (the
// MQTT client sends it later). It may block for as long as the client's
// write timeout when the connection stalls, so call it from a goroutine
// of its own.
func (p *Probe) PublishHeartbeat(payload []byte) error {
	s := p.hbPeer.Load()
	out, _ := p.heartbeatTopics()
	if s == nil || out == "" {
		return errNoPeerSession
	}
	tok := s.c.Publish(out, 0, false, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	default:
		return nil
	}
}

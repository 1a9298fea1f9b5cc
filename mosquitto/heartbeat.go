package mosquitto

import (
	"context"
	"errors"
	"time"
)

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

// heartbeatTopics are the topic published on the peer and the filter
// read locally; both empty when the heartbeat is off.
//
// The filter takes every node's topic rather than HeartbeatTopic/<PeerNode>:
// PeerNode is the address we reach the peer at (probe.peer), which need
// not be the one the peer names itself by (its broker's addr), for
// instance when the probe goes over a second path. A heartbeat names its
// sender inside, so the topic's last level only keeps our own out.
func (p *Probe) heartbeatTopics() (out, in string) { return p.hbOut, p.hbIn }

// heartbeatHandler hands the peer's heartbeats to OnHeartbeat; our own,
// should a bridge carry them back, are not the peer's.
func (p *Probe) heartbeatHandler(m message) {
	if out, _ := p.heartbeatTopics(); m.topic == out {
		return
	}
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
	if out == "" {
		return errNoPeerSession
	}
	if l := p.hbLocal.Load(); s == nil || !s.alive() || l == nil || !l.alive() {
		// A broker restarted (on_promote: restart does it at every
		// failover): redial now rather than at the next round, up to
		// Interval away, during which no heartbeat would pass.
		p.kickRedial()
	}
	if s == nil {
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

// kickRedial asks Run to replace a dead connection between rounds.
func (p *Probe) kickRedial() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// redialGap spaces the redials: those heartbeats and lost connections
// ask for, and the retries of one that failed (a restarting broker
// refuses connections until it listens again).
const redialGap = 200 * time.Millisecond

// redial replaces a dead connection between rounds, for the heartbeat,
// within Deadline. It runs on Run's goroutine, which owns the sessions;
// probes wait for the next round.
//
// Not after a failed round, nor when the next round would start before a
// redial could time out: the rounds dial by themselves then, and a redial
// waiting out its Deadline on a cut path would hold the next round back,
// which detects the cut (broken after BrokenAfter rounds).
//
// It reports whether to try again in redialGap: a connection is still
// dead and the next round is not the one to replace it.
func (p *Probe) redial(ctx context.Context) (again bool) {
	if p.roundFailed || time.Until(p.nextRound) < p.cfg.Deadline {
		return false
	}
	if time.Since(p.lastRedial) < redialGap {
		return true
	}
	p.lastRedial = time.Now()
	for _, s := range []**session{&p.local, &p.peer} {
		if *s != nil && !(*s).alive() {
			(*s).close()
			*s = nil
		}
	}
	if p.local != nil && p.peer != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Deadline)
	defer cancel()
	localErr, peerErr := p.connect(ctx)
	if localErr != nil || peerErr != nil {
		p.log.Debug("redialling for the heartbeat", "local", localErr, "peer", peerErr)
		return true
	}
	return false
}

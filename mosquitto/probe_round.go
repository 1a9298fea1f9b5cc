package mosquitto

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/carpd/carpd/mosquitto/mqconf"
)

// connect makes sure both clients are connected and subscribed.
func (p *Probe) connect(ctx context.Context) (localErr, peerErr error) {
	// A connection the broker closed since (a restart) is replaced now,
	// not after a round that waits out its Deadline on it.
	for _, s := range []**session{&p.local, &p.peer} {
		if *s != nil && !(*s).alive() {
			(*s).close()
			*s = nil
		}
	}
	// With the heartbeat on, a lost connection is redialled at once
	// (Run, redial) rather than at the next heartbeat, which may be
	// heartbeat.Quiet away while the pair is settled.
	var lost func()
	if out, _ := p.heartbeatTopics(); out != "" {
		lost = p.kickRedial
	}
	var wg sync.WaitGroup
	if p.local == nil {
		subs := []sub{{stateFilter, p.sysHandler("local")}}
		if p.cfg.Direction&mqconf.In != 0 {
			subs = append(subs, sub{p.cfg.Prefix + "/" + p.cfg.PeerNode + "/+", p.localW.deliver})
		}
		if _, in := p.heartbeatTopics(); in != "" {
			subs = append(subs, sub{in, p.heartbeatHandler})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.local, localErr = dialSession(ctx, p.cfg.Local, p.cfg.ClientID+"-local", subs, lost)
		}()
	}
	if p.peer == nil {
		subs := []sub{{stateFilter, p.sysHandler("peer")}}
		if p.cfg.Direction&mqconf.Out != 0 {
			subs = append(subs, sub{p.cfg.PeerPrefix + "/" + p.cfg.Node + "/+", p.peerW.deliver})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.peer, peerErr = dialSession(ctx, p.cfg.Peer, p.cfg.ClientID+"-peer", subs, lost)
		}()
	}
	wg.Wait()
	if peerErr == nil {
		p.hbPeer.Store(p.peer)
	}
	if localErr == nil {
		p.hbLocal.Store(p.local)
	}
	if localErr != nil {
		localErr = fmt.Errorf("local broker: %w", localErr)
	}
	if peerErr != nil {
		peerErr = fmt.Errorf("peer broker: %w", peerErr)
	}
	return localErr, peerErr
}

// once publishes one probe on src and waits for dst to receive it.
func (p *Probe) once(ctx context.Context, src *session, dst *waiters, topic string) (time.Duration, error) {
	nonce := newNonce()
	got := dst.add(nonce)
	defer dst.remove(nonce)
	t0 := time.Now()
	payload := nonce + " " + p.cfg.Node + " " + t0.UTC().Format(time.RFC3339Nano)
	if err := src.publish(ctx, topic, payload); err != nil {
		return 0, err
	}
	select {
	case at := <-got:
		return at.Sub(t0), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("probe on %s not delivered within %v", topic, p.cfg.Deadline)
	}
}

// record books a round and logs and reports each change of state once.
func (p *Probe) record(results []result) {
	now := time.Now()
	type change struct {
		from PathState
		to   PathStatus
	}
	var changed []change
	p.mu.Lock()
	for _, r := range results {
		ps := p.paths[r.dir]
		old := ps.State
		if r.err == nil {
			ps.Failures, ps.LastOK, ps.RTT, ps.State = 0, now, r.rtt, PathOK
		} else {
			ps.Failures++
			ps.LastErr = truncate(r.err.Error(), maxErrLen)
			if ps.Failures >= p.cfg.BrokenAfter {
				ps.State = PathBroken
			}
		}
		if ps.State != old {
			changed = append(changed, change{old, *ps})
			ps.Since = now
		}
	}
	p.mu.Unlock()
	for _, c := range changed {
		ps := c.to
		switch {
		case ps.State == PathBroken:
			p.log.Error("replication broken", "direction", ps.Direction, "failures", ps.Failures,
				"last_ok", ps.LastOK, "err", ps.LastErr)
		case c.from == PathBroken:
			p.log.Info("replication restored", "direction", ps.Direction, "rtt", ps.RTT,
				"broken_for", now.Sub(ps.Since).Round(time.Millisecond))
		default:
			p.log.Info("replication ok", "direction", ps.Direction, "rtt", ps.RTT)
		}
		ps.Since = now
		if p.cfg.OnChange != nil {
			p.cfg.OnChange(ps)
		}
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

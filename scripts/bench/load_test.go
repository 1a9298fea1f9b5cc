//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/status"
)

// carpdOnly is a carpd without a broker, n routers on one interface.
type carpdOnly struct {
	proc *lab.Proc
	n    *lab.Node
	dir  string
	bin  string
}

// startCarpdRouters runs carpd on n with routers CARP vhid 1..count,
// advbase 1, password s3cret, VIP 198.18.1.<vhid> each.
func startCarpdRouters(t *testing.T, bin string, n *lab.Node, count, skew int) *carpdOnly {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("routers:\n")
	for v := 1; v <= count; v++ {
		fmt.Fprintf(&b, "  - {iface: %s, vhid: %d, advbase: 1, advskew: %d, password: s3cret, vips: [198.18.1.%d]}\n",
			n.Iface, v, skew, v)
	}
	writeFile(t, dir+"/carpd.yaml", b.String(), 0o600)
	p := n.Start(t, bin, "run", "--state-dir", dir+"/state", "--log-format", "json", "-c", dir+"/carpd.yaml")
	return &carpdOnly{proc: p, n: n, dir: dir, bin: bin}
}

// report runs `carpd status --json` against c.
func (c *carpdOnly) report(t *testing.T) status.Report {
	t.Helper()
	r, err := c.tryReport()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryReport is report returning its error, for polling a carpd that may
// not listen yet.
func (c *carpdOnly) tryReport() (status.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r status.Report
	out, err := c.n.Run(ctx, c.bin, "status", "--json", "--state-dir", c.dir+"/state")
	if err != nil {
		return r, fmt.Errorf("carpd status on %s: %w", c.n.Name, err)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("carpd status --json on %s: %w", c.n.Name, err)
	}
	return r, nil
}

// counts sums a report's counters over routers; drops merges the
// routers' and the sockets' drops by reason.
type counts struct {
	sent, received, transitions uint64
	masters                     int
	drops                       map[string]uint64
}

func summarize(r status.Report) counts {
	c := counts{drops: map[string]uint64{}}
	for _, rt := range r.Routers {
		c.sent += rt.Counters.Sent
		c.received += rt.Counters.Received
		c.transitions += rt.Counters.Transitions
		if rt.State == "MASTER" {
			c.masters++
		}
		for k, v := range rt.Counters.Dropped {
			c.drops[k] += v
		}
	}
	for _, s := range r.Sockets {
		for k, v := range s.Dropped {
			c.drops[k] += v
		}
	}
	return c
}

// carpdPair starts count routers on n1 (advskew 0) and, once n1 is master
// of all, on n2 (advskew 50).
func carpdPair(t *testing.T, bin string, count int) (*lab.Lab, [2]*carpdOnly) {
	t.Helper()
	l := lab.New(t, 2, lab.WithoutIPv6())
	a := startCarpdRouters(t, bin, l.Nodes[0], count, 0)
	lab.Wait(t, 20*time.Second, "n1 master of every router", func() bool {
		r, err := a.tryReport()
		return err == nil && summarize(r).masters == count
	})
	b := startCarpdRouters(t, bin, l.Nodes[1], count, 50)
	lab.Wait(t, 20*time.Second, "n2 backup of every router", func() bool {
		r, err := b.tryReport()
		return err == nil && len(r.Routers) == count && summarize(r).masters == 0 && countState(r, "BACKUP") == count
	})
	time.Sleep(time.Second)
	return l, [2]*carpdOnly{a, b}
}

// scale measures carpd's CPU and RSS with count routers.
func scale(t *testing.T, bin string, count int, window time.Duration) []Scale {
	_, cs := carpdPair(t, bin, count)
	var before [2]procSample
	for i, c := range cs {
		before[i] = sample(t, []int{c.proc.PID})
	}
	start := time.Now()
	time.Sleep(window)
	var out []Scale
	for i, c := range cs {
		after := sample(t, []int{c.proc.PID})
		el := time.Since(start).Seconds()
		cpu := float64(after.ticks-before[i].ticks) / clockTicks
		sum := summarize(c.report(t))
		out = append(out, Scale{Routers: count, Node: pick(i == 0, "master", "backup"), CPUSeconds: cpu,
			CPUPercent: 100 * cpu / el, RSSKiB: after.rssKiB, WindowS: el, Masters: sum.masters})
		t.Logf("%d routers, %s: CPU %.2f s over %.0f s (%.3f %%), RSS %d KiB, %d MASTER", count, c.n.Name, cpu, el,
			100*cpu/el, after.rssKiB, sum.masters)
	}
	return out
}

// forged builds the flood's packet: a CARP advert for vhid with advskew 0
// signed with pass. Against vhid 1 with the wrong pass it fails the HMAC;
// with the right pass and vhid 99 it names no configured router.
func forged(t *testing.T, pass string, vhid uint8) []byte {
	t.Helper()
	vip := netip.AddrFrom4([4]byte{198, 18, 1, vhid})
	a, err := carp.NewAuth([]byte(pass), vhid, []netip.Addr{vip}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := carp.Header{Version: 2, Type: 1, VHID: vhid, AdvSkew: 0, AuthLen: 7, AdvBase: 1, Counter: 42}
	a.Sign(&h)
	b, _ := h.MarshalBinary() // never fails for a Header
	return b
}

// flood sends payload to 224.0.0.18 from the client at rate packets per
// second for d, in bursts every millisecond, and returns how many it sent.
// Both count and time are bounded.
func flood(l *lab.Lab, payload []byte, rate int, d time.Duration) (int, error) {
	p, err := l.Client.Proto112(255)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	dst := &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)}
	limit := int(float64(rate) * d.Seconds())
	start := time.Now()
	end := start.Add(d)
	sent := 0
	for sent < limit && time.Now().Before(end) {
		// Catch up to the schedule: rate × elapsed packets by now.
		due := min(limit, int(float64(rate)*time.Since(start).Seconds())+1)
		for ; sent < due; sent++ {
			if _, err := p.WriteTo(payload, nil, dst); err != nil {
				return sent, err
			}
		}
		time.Sleep(time.Millisecond)
	}
	return sent, nil
}

// floodTrial floods a settled carpd pair (one router, vhid 1) with one
// kind of forged advert.
func floodTrial(t *testing.T, bin, kind string, rate int, d time.Duration) Flood {
	l, cs := carpdPair(t, bin, 1)
	payload := forged(t, "wrong", 1)
	if kind == "wrong vhid" {
		payload = forged(t, "s3cret", 99)
	}
	var before [2]counts
	var ticks [2]procSample
	for i, c := range cs {
		before[i] = summarize(c.report(t))
		ticks[i] = sample(t, []int{c.proc.PID})
	}
	start := time.Now()
	sent, err := flood(l, payload, rate, d)
	if err != nil {
		t.Fatalf("flooding: %v", err)
	}
	el := time.Since(start).Seconds()
	f := Flood{Kind: kind, RatePPS: rate, Seconds: el, Sent: sent, AchievedPPS: float64(sent) / el,
		Drops: map[string]uint64{}}
	time.Sleep(200 * time.Millisecond)
	for i, c := range cs {
		after := summarize(c.report(t))
		cpu := float64(sample(t, []int{c.proc.PID}).ticks-ticks[i].ticks) / clockTicks
		f.CPUPercent = append(f.CPUPercent, 100*cpu/el)
		f.Transitions += int(after.transitions - before[i].transitions)
		for k, v := range after.drops {
			f.Drops[k] += v - before[i].drops[k]
		}
		if i == 0 {
			f.OwnSent = int(after.sent - before[i].sent)
		} else {
			f.OwnReceived = int(after.received - before[i].received)
		}
	}
	t.Logf("%s at %d pps for %.1f s: sent %d (%.0f pps), CPU master %.1f %% backup %.1f %%, drops %v, "+
		"transitions %d, n1 sent %d adverts, n2 accepted %d", kind, rate, el, sent, f.AchievedPPS, f.CPUPercent[0],
		f.CPUPercent[1], f.Drops, f.Transitions, f.OwnSent, f.OwnReceived)
	return f
}

func countState(r status.Report, state string) int {
	n := 0
	for _, rt := range r.Routers {
		if rt.State == state {
			n++
		}
	}
	return n
}

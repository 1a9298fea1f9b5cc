// Command statusline reads `carpd status --json` on standard input and
// prints one fact of it for scripts/demo.sh, so the demo needs neither jq
// nor python:
//
//	state       the first router's state (INIT, BACKUP, MASTER, FAULT)
//	broker-pid  the supervised broker's PID (empty if none)
//	ready       "true" once the broker is ready
//	promoted    when the first router last became MASTER, what its steps
//	            took, and why: "+12.345s 38ms master down: ..."; an error
//	            until those steps are done
//	probe       the bridge probe per direction: "out ok 2ms, in ok 3ms"
//	probe-down  succeeds (exit 0) only when no direction is ok
//
// Times are printed relative to -t0 (Unix seconds, e.g. bash's
// $EPOCHREALTIME).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/carpd/carpd/internal/status"
)

func main() {
	t0s := flag.String("t0", "", "print times relative to this Unix time (`SECONDS`)")
	flag.Parse()
	out, err := run(os.Stdin, *t0s, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "statusline:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}

func run(in io.Reader, t0s string, args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want one of state, broker-pid, ready, promoted, probe, probe-down; got %q", args)
	}
	var t0 time.Time
	if t0s != "" {
		secs, err := strconv.ParseFloat(t0s, 64)
		if err != nil {
			return "", fmt.Errorf("-t0 %q: %w", t0s, err)
		}
		t0 = time.Unix(0, int64(secs*1e9))
	}
	var r status.Report
	if err := json.NewDecoder(in).Decode(&r); err != nil {
		return "", fmt.Errorf("reading the status: %w", err)
	}
	if len(r.Routers) == 0 {
		return "", fmt.Errorf("no router in the status")
	}
	rt := r.Routers[0]
	switch args[0] {
	case "state":
		return rt.State, nil
	case "broker-pid":
		if r.Broker == nil || r.Broker.PID == 0 {
			return "", nil
		}
		return strconv.Itoa(r.Broker.PID), nil
	case "ready":
		return strconv.FormatBool(r.Broker != nil && r.Broker.Ready), nil
	case "promoted":
		return promoted(rt, t0)
	case "probe":
		return probe(r.Broker), nil
	case "probe-down":
		if r.Broker != nil && r.Broker.Probe != nil {
			for _, p := range r.Broker.Probe.Paths {
				if p.State == "ok" {
					return "", fmt.Errorf("probe direction %s is ok", p.Direction)
				}
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("unknown query %q", args[0])
}

func rel(at, t0 time.Time) string {
	if t0.IsZero() {
		return at.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("+%.3fs", at.Sub(t0).Seconds())
}

// promoted describes the router's last transition to MASTER.
func promoted(rt status.Router, t0 time.Time) (string, error) {
	for i := len(rt.Transitions) - 1; i >= 0; i-- {
		tr := rt.Transitions[i]
		if tr.To == "MASTER" {
			if !tr.Done {
				return "", fmt.Errorf("router %s: promotion in progress", rt.Name)
			}
			return fmt.Sprintf("%s %v %s", rel(tr.At, t0), time.Duration(tr.Took).Round(time.Millisecond), tr.Reason), nil
		}
	}
	return "", fmt.Errorf("router %s never became MASTER", rt.Name)
}

// probe sums up the bridge probe's directions.
func probe(b *status.Broker) string {
	if b == nil || b.Probe == nil || len(b.Probe.Paths) == 0 {
		return "no probe"
	}
	var parts []string
	for _, p := range b.Probe.Paths {
		s := p.Direction + " " + p.State
		if d, err := time.ParseDuration(p.RTT); err == nil && p.State == "ok" {
			s += " " + d.Round(100*time.Microsecond).String()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

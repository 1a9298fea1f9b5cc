//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/carpd/carpd/internal/sdnotify"
	"github.com/carpd/carpd/internal/status"
	"github.com/carpd/carpd/internal/testutil"
)

// scrapeIn fetches http://addr/metrics from inside n's namespace. The
// request is written by hand on a connection dialled on n's thread: an
// http.Client would dial from another goroutine, outside the namespace.
func scrapeIn(n *lab.Node, addr string) (string, error) {
	var body string
	err := n.Do(func() error {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
			return err
		}
		b, err := io.ReadAll(conn)
		body = string(b)
		return err
	})
	return body, err
}

// TestLabOps runs carpd as systemd would (NOTIFY_SOCKET, WATCHDOG_USEC)
// with --metrics-listen next to a plain peer: READY=1 and WATCHDOG=1 come,
// /metrics shows the election, `carpd status` shows it in the table and
// the JSON, and SIGTERM ends with STOPPING=1 and exit 0.
func TestLabOps(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.12")
	nl := testutil.ListenNotify(t, nil)
	metricsAddr := netip.AddrPortFrom(n1.IP4.Addr(), 9112).String()
	dir := stateDir(t)
	argv := append([]string{"env", labMainEnv + "=1", "NOTIFY_SOCKET=" + nl.Path, "WATCHDOG_USEC=400000",
		os.Args[0], "run", "--state-dir", dir, "--log-format", "json", "--log-level", "debug",
		"--metrics-listen", metricsAddr}, vrrpArgs(n1, "12", "200", vip.String())...)
	a := &carpdProc{Proc: n1.Start(t, argv...), dir: dir, node: n1}
	b := startCarpd(t, n2, "", vrrpArgs(n2, "12", "100", vip.String())...)
	a.waitState(t, "MASTER", 5*time.Second)
	b.waitState(t, "BACKUP", 5*time.Second)
	lab.Wait(t, 2*time.Second, "READY=1 and two WATCHDOG=1", func() bool {
		return nl.Count(sdnotify.Ready) == 1 && nl.Count(sdnotify.Watchdog) >= 2
	})

	var metrics string
	lab.Wait(t, 2*time.Second, "/metrics", func() bool {
		var err error
		metrics, err = scrapeIn(n1, metricsAddr)
		return err == nil
	})
	for _, want := range []string{`carpd_router_state{router="vrrp12",state="MASTER"} 1`,
		`carpd_router_info{id="12",iface="` + n1.Iface + `",proto="vrrp3",router="vrrp12"} 1`,
		"carpd_router_adverts_sent_total{", "carpd_router_garp_rounds_total{"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	table, err := runStatus(time.Now(), "--state-dir", a.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "vrrp12  "+n1.Iface) || !strings.Contains(table, "MASTER") {
		t.Errorf("carpd status on n1:\n%s", table)
	}
	// n2 was BACKUP before n1's first advert and names n1 only once it has
	// read one, so poll its status until it does.
	var rep status.Report
	lab.Wait(t, 2*time.Second, "n2's status to name n1 as master", func() bool {
		out, err := runStatus(time.Now(), "--state-dir", b.dir, "--json")
		if err != nil {
			t.Fatal(err)
		}
		rep = status.Report{}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("carpd status --json: %v\n%s", err, out)
		}
		return len(rep.Routers) == 1 && rep.Routers[0].Master == n1.IP4.Addr().String()
	})
	if r := rep.Routers[0]; r.State != "BACKUP" || r.Heard == nil || r.Heard.From != n1.IP4.Addr().String() ||
		r.Master != n1.IP4.Addr().String() {
		t.Errorf("n2 status: state %s master %s heard %+v; want BACKUP hearing %v", r.State, r.Master, r.Heard,
			n1.IP4.Addr())
	}

	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(ctx); err != nil {
		t.Errorf("carpd after SIGTERM: %v, want exit 0", err)
	}
	// STATUS= may come at any time (systemd shows it before READY=1 too);
	// the lifecycle messages come in order, and no STATUS= after
	// STOPPING=1.
	all := nl.Messages()
	var msgs, states []string
	for _, m := range all {
		if s, ok := strings.CutPrefix(m, "STATUS="); ok {
			states = append(states, s)
			continue
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 || msgs[0] != sdnotify.Ready || all[len(all)-1] != sdnotify.Stopping {
		t.Errorf("notifications %q: want READY=1 first and STOPPING=1 last", all)
	}
	if !slices.Contains(states, "vrrp12 MASTER") {
		t.Errorf("STATUS= lines %q: want one with vrrp12 MASTER", states)
	}
}

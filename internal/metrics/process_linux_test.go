//go:build linux

package metrics

import (
	"testing"
	"time"
)

// TestProcess checks that the process figures of a scrape are plausible
// for this test binary.
func TestProcess(t *testing.T) {
	fams := scrapeServer(t, static(report()))
	value := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v, want one sample", name, f)
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	now := float64(time.Now().UnixNano()) / 1e9
	rss, vsize := value("process_resident_memory_bytes"), value("process_virtual_memory_bytes")
	open, maxFDs := value("process_open_fds"), value("process_max_fds")
	start, cpu := value("process_start_time_seconds"), value("process_cpu_seconds_total")
	checks := []struct {
		what string
		ok   bool
	}{
		{"resident memory above 1 MiB", rss > 1<<20},
		{"virtual memory at least resident", vsize >= rss},
		{"at least 3 open fds (stdin, stdout, stderr)", open >= 3},
		{"open fds within the limit", maxFDs >= open},
		// starttime has a resolution of 1/userHZ s; allow a tick of skew.
		{"started within the last hour and not in the future", start > now-3600 && start <= now+0.02},
		{"CPU time non-negative and below the wall time since start", cpu >= 0 && cpu <= (now-start+1)*8},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: rss %v vsize %v open %v max %v start %v (now %v) cpu %v", c.what, rss, vsize, open,
				maxFDs, start, now, cpu)
		}
	}
	if mem := value("go_memstats_alloc_bytes"); mem <= 0 || mem > value("go_memstats_sys_bytes") {
		t.Errorf("go_memstats_alloc_bytes %v, sys %v", mem, value("go_memstats_sys_bytes"))
	}
	if n := value("go_goroutines"); n < 1 {
		t.Errorf("go_goroutines %v", n)
	}
}

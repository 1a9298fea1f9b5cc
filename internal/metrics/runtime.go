package metrics

import (
	"runtime"
	"runtime/metrics"
)

// goFamilies are the essentials of client_golang's Go collector, under
// its names, types and help texts so dashboards keep working. The memory
// figures come from runtime/metrics, as client_golang's do (no
// stop-the-world ReadMemStats).
func goFamilies() []family {
	mem := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(mem)
	threads, _ := runtime.ThreadCreateProfile(nil)
	return []family{
		single("go_goroutines", "Number of goroutines that currently exist.", gauge, float64(runtime.NumGoroutine())),
		single("go_threads", "Number of OS threads created.", gauge, float64(threads)),
		{name: "go_info", help: "Information about the Go environment.", kind: gauge,
			samples: []sample{{labels: []label{{"version", runtime.Version()}}, value: 1}}},
		single("go_memstats_alloc_bytes",
			"Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
			gauge, uint64Value(mem[0].Value)),
		single("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
			gauge, uint64Value(mem[1].Value)),
	}
}

// uint64Value reads a runtime/metrics value that a Go release might drop
// or retype as 0 rather than panicking.
func uint64Value(v metrics.Value) float64 {
	if v.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(v.Uint64())
}

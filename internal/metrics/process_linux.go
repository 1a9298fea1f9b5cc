//go:build linux

package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of the times in /proc/PID/stat: proc(5) says
// sysconf(_SC_CLK_TCK), which is 100 on every Linux architecture Go
// supports (procfs, which client_golang uses, assumes the same).
const userHZ = 100

// processFamilies are client_golang's process collector essentials, read
// from /proc/self as procfs does, under the same names, types and help.
func processFamilies() ([]family, error) {
	st, err := readStat()
	if err != nil {
		return nil, err
	}
	boot, err := bootTime()
	if err != nil {
		return nil, err
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("reading open file descriptors: %w", err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, fmt.Errorf("reading the open file limit: %w", err)
	}
	return []family{
		single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", counter,
			float64(st.utime+st.stime)/userHZ),
		// ReadDir counts the fd it reads /proc/self/fd through, as procfs
		// does.
		single("process_open_fds", "Number of open file descriptors.", gauge, float64(len(fds))),
		single("process_max_fds", "Maximum number of open file descriptors.", gauge, float64(lim.Cur)),
		single("process_virtual_memory_bytes", "Virtual memory size in bytes.", gauge, float64(st.vsize)),
		single("process_resident_memory_bytes", "Resident memory size in bytes.", gauge,
			float64(st.rss*uint64(os.Getpagesize()))),
		single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge,
			float64(boot)+float64(st.starttime)/userHZ),
	}, nil
}

// stat holds the fields of /proc/self/stat that are exported.
type stat struct{ utime, stime, starttime, vsize, rss uint64 }

// readStat parses /proc/self/stat. proc(5): the command (field 2) is in
// parentheses and may hold spaces or parentheses, so fields are counted
// from the last ')'; utime and stime are fields 14 and 15, starttime 22,
// vsize 23 (bytes), rss 24 (pages).
func readStat() (stat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return stat{}, fmt.Errorf("reading process stat: %w", err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("parsing process stat: no command")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 22 {
		return stat{}, fmt.Errorf("parsing process stat: %d fields", len(f)+2)
	}
	var st stat
	for _, x := range []struct {
		field int
		dst   *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rss}} {
		v, err := strconv.ParseUint(string(f[x.field-3]), 10, 64)
		if err != nil {
			return stat{}, fmt.Errorf("parsing process stat field %d: %w", x.field, err)
		}
		*x.dst = v
	}
	return st, nil
}

// bootTime reads the btime line of /proc/stat: the boot time in seconds
// since the epoch, which starttime counts from.
func bootTime() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("reading boot time: %w", err)
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing boot time: %w", err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("reading boot time: no btime in /proc/stat")
}

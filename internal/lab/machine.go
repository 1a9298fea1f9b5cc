package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes the machine and the programs a measurement ran with,
// one "name: value" line each, for the reports of the takeover measurement
// and the benchmark; carpdVersion is what `carpd version` says.
func Machine(carpdVersion string) []string {
	return []string{
		"CPU: " + cpuModel() + fmt.Sprintf(", %d CPUs; load average when the run started: %s", runtime.NumCPU(),
			loadAvg()),
		"kernel: " + FirstLine(readFileString("/proc/sys/kernel/osrelease")),
		"carpd: " + carpdVersion + ", tree " + FirstLine(CommandOutput("git", "rev-parse", "--short", "HEAD")),
		"ucarp: " + programVersion("ucarp", "ucarp", "--help"),
		"keepalived: " + programVersion("Keepalived", "keepalived", "--version"),
		"mosquitto: " + programVersion("mosquitto version", "mosquitto", "-h"),
		"nft: " + FirstLine(CommandOutput("nft", "--version")),
		"Go: " + runtime.Version(),
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg is the 1, 5 and 15 minute load averages, which show whether
// something else was running when a measurement started.
func loadAvg() string {
	f := strings.Fields(readFileString("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func readFileString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return string(b)
}

// FirstLine is the first line of s, without surrounding space.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// programVersion runs prog with args and returns the first line of its
// output that starts with prefix; ucarp prints its version only in its help.
func programVersion(prefix, prog string, args ...string) string {
	for _, line := range strings.Split(CommandOutput(prog, args...), "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return "not found"
}

// CommandOutput runs prog for at most 5 s and returns its output, whatever
// its exit status, or "unknown" when it produced none.
func CommandOutput(prog string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	if len(out) == 0 {
		return "unknown"
	}
	return string(out)
}

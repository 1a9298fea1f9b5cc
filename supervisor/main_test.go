//go:build linux

package supervisor

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects what the re-executed test binary does instead of running
// tests; see helperMain.
const helperEnv = "SUPERVISOR_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

// helperMain is a fake broker for Child tests. Every mode ends by itself
// within helperLife so that nothing outlives a broken test for long.
func helperMain(mode string) int {
	const helperLife = 60 * time.Second
	addr := os.Getenv("HELPER_ADDR")
	switch mode {
	case "supervise":
		return superviseMain()
	case "crash":
		fmt.Fprintln(os.Stdout, "starting up")
		fmt.Fprintln(os.Stderr, "Error: boom, cannot bind")
		return 1
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	case "crash-first":
		// Crashes while the counter file has fewer than N bytes, then
		// serves.
		f := os.Getenv("HELPER_COUNTER")
		b, _ := os.ReadFile(f)
		if len(b) < 2 {
			_ = os.WriteFile(f, append(b, 'x'), 0o644)
			fmt.Fprintln(os.Stderr, "Error: not yet")
			return 3
		}
	}
	if os.Getenv("HELPER_GRANDCHILD") != "" {
		if err := startGrandchild(); err != nil {
			fmt.Fprintln(os.Stderr, "grandchild:", err)
			return 2
		}
	}
	term := make(chan os.Signal, 1)
	if mode != "ignore-term" {
		signal.Notify(term, syscall.SIGTERM)
	}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			return 1
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	fmt.Println("running")
	select {
	case <-term:
		fmt.Println("terminating")
		return 0
	case <-time.After(helperLife):
		return 4
	}
}

// startGrandchild starts a child of the child, in its process group, that
// ignores SIGTERM: only a group SIGKILL ends it.
func startGrandchild() error {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=ignore-term", "HELPER_ADDR=", "HELPER_GRANDCHILD=")
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Printf("grandchild %d\n", cmd.Process.Pid)
	return nil
}

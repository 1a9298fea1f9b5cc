//go:build linux

package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// superviseMain plays carpd for TestChildDeathsig: it supervises a fake
// broker, prints its PID and runs until killed.
func superviseMain() int {
	c, err := New(Config{
		Name:    "fake",
		Command: []string{os.Args[0], "-fake=serve"},
		Env:     append(os.Environ(), helperEnv+"=serve", "HELPER_ADDR="),
		OnEvent: func(ev Event) {
			if ev.Kind == EventStarted {
				fmt.Printf("child %d\n", ev.PID)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// TestChildDeathsig kills the supervising process with SIGKILL, as when
// carpd itself is killed: the child must die with it (Pdeathsig on the
// locked thread that forked it), not live on as an orphan.
func TestChildDeathsig(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=supervise")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "child ") {
				line <- sc.Text()
				break
			}
		}
		for sc.Scan() {
		}
	}()
	var pid int
	select {
	case l := <-line:
		pid, _ = strconv.Atoi(strings.TrimPrefix(l, "child "))
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not report its child")
	}
	// Let the supervisor settle into Wait on its locked thread.
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(pid, 3*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("child %d outlived its supervisor's SIGKILL", pid)
	}
}

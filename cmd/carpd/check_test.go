package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const configdata = "../../internal/config/testdata"

func runCheck(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errw bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errw)
	root.SetArgs(append([]string{"check"}, args...))
	err := root.Execute()
	return out.String(), errw.String(), err
}

func TestCheckFile(t *testing.T) {
	out, _, err := runCheck(t, "-c", filepath.Join(configdata, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The interface may be missing here (a warning), so compare only the
	// normalized document, which does not depend on the machine.
	want, err := os.ReadFile(filepath.Join(configdata, "minimal.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestCheckErrors(t *testing.T) {
	path := filepath.Join(configdata, "errors.yaml")
	out, errOut, err := runCheck(t, "-c", path)
	if err == nil {
		t.Fatal("check succeeded on errors.yaml")
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	// errors.golden was made with fake interfaces; on this machine the
	// interface checks may differ, so look for the machine-independent
	// lines and check that every line is FILE:LINE: reason.
	var errs []string
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if strings.HasPrefix(line, "warning: ") {
			continue
		}
		if !strings.HasPrefix(line, path+":") {
			t.Errorf("error line %q does not start with %s:LINE:", line, path)
		}
		errs = append(errs, line)
	}
	for _, want := range []string{
		path + ":6: vhid: 0 is out of range 1..255",
		path + ":40: router: unknown key \"wieght\"",
	} {
		if !slices.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if diff := cmp.Diff(fmt.Sprintf("check: %d error(s)", len(errs)), err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestCheckUcarpFlags(t *testing.T) {
	out, errOut, err := runCheck(t, "-i", "carpd-test0", "-v", "29", "-a", "198.18.0.2", "-p", "pw", "-P", "-z")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, s := range []string{"name: carp29", "iface: carpd-test0", "preempt: true", "password: '***'"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out+errOut, "pw\n") {
		t.Errorf("password shown:\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "warning: -p/--pass puts the password in the process list") {
		t.Errorf("stderr lacks the -p warning:\n%s", errOut)
	}
	if _, _, err := runCheck(t); err == nil {
		t.Error("check without arguments succeeded")
	}
}

// TestCheckExposure: check warns, with file and line, about a router
// anyone on the segment can override and metrics served beyond loopback.
func TestCheckExposure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carpd.yaml")
	yaml := "metrics_listen: \":9112\"\nrouters:\n  - {iface: carpd-test0, vhid: 29, vips: [198.18.0.2]}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCheck(t, "-c", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"warning: router carp29 (" + path + ":3): CARP without a password: anyone on the segment can take the VIP\n",
		"warning: " + path + ":1: metrics_listen :9112 is not a loopback address",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestCheckQuiet prints no configuration with --quiet, and still fails
// with the errors on a bad file, as ExecReload= needs.
func TestCheckQuiet(t *testing.T) {
	out, _, err := runCheck(t, "--quiet", "-c", filepath.Join(configdata, "minimal.yaml"))
	if err != nil || out != "" {
		t.Errorf("good file: stdout %q, error %v; want nothing and success", out, err)
	}
	out, errs, err := runCheck(t, "-c", filepath.Join(configdata, "errors.yaml"), "--quiet")
	if err == nil || out != "" || !strings.Contains(errs, "errors.yaml:6: vhid:") {
		t.Errorf("bad file: stdout %q, stderr %q, error %v; want the errors and a failure", out, errs, err)
	}
}

// TestCheckVMAC: check says what run will create for a vmac router, and
// the normalized form names the child.
func TestCheckVMAC(t *testing.T) {
	out, errOut, err := runCheck(t, "-i", "carpd-test0", "-v", "29", "-a", "198.18.0.2", "--proto", "vrrp3", "--vmac")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "info: router vrrp29: carpd run creates macvlan vrrp.29 (mode vepa) on carpd-test0 with MAC 00:00:5e:00:01:1d") {
		t.Errorf("stderr lacks the vmac info line:\n%s", errOut)
	}
	if !strings.Contains(out, "vmac: true\n    vmac_iface: vrrp.29\n") {
		t.Errorf("normalized form lacks vmac:\n%s", out)
	}
}

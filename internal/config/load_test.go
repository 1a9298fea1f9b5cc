package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"github.com/carpd/carpd/carp"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carpd/carpd/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the .golden files")

// fakeAddrs stands in for the interfaces of a test machine: eth0 holds
// 198.18.0.3/24, 2001:2::3/64 and fe80::3/64, eth1 198.18.1.3/24, eth2
// nothing; the rest do not exist.
func fakeAddrs(iface string) ([]netip.Prefix, error) {
	switch iface {
	case "eth0":
		return []netip.Prefix{netip.MustParsePrefix("198.18.0.3/24"), netip.MustParsePrefix("2001:2::3/64"),
			netip.MustParsePrefix("fe80::3/64")}, nil
	case "eth1":
		return []netip.Prefix{netip.MustParsePrefix("198.18.1.3/24")}, nil
	case "eth2":
		return nil, nil
	}
	return nil, fmt.Errorf("route ip+net: no such network interface")
}

// fakeScript stands in for the programs of a test machine: any absolute
// path is a safe program, and a bare name is found in /usr/bin. It
// refuses a relative path, which the parser must have resolved.
func fakeScript(name string) (string, error) {
	switch {
	case filepath.IsAbs(name):
		return name, nil
	case !strings.Contains(name, "/"):
		return "/usr/bin/" + name, nil
	}
	return "", fmt.Errorf("%s: relative path passed to Script", name)
}

// testLoader looks at no file of the system: Root does not exist.
var testLoader = Loader{IfaceAddrs: fakeAddrs, Script: fakeScript, Root: "testdata/no-root"}

// loadText writes text to c.yaml in a private directory (mode 0600, so no
// permission warning) and loads it. It returns the errors as "LINE: msg".
func loadText(t *testing.T, text string) (*File, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := testLoader.Load(path)
	return f, errLines(t, err, path)
}

func errLines(t *testing.T, err error, path string) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v is not Errors", err)
	}
	var out []string
	for _, e := range es {
		if e.File != path {
			t.Errorf("error %q names file %q, want %q", e.Msg, e.File, path)
		}
		out = append(out, fmt.Sprintf("%d: %s", e.Line, e.Msg))
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"minimal", "full", "hass"} {
		t.Run(name, func(t *testing.T) {
			f, err := testLoader.Load(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var buf bytes.Buffer
			if err := f.WriteNormalized(&buf); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", name+".golden"), buf.String(), *update)

			// The normalized form is itself a valid file that loads to the
			// same routers, passwords aside (they come back as ***).
			again, errs := loadText(t, strings.ReplaceAll(buf.String(), "passfile: testdata/pass.txt", "passfile: "+abs(t, "testdata/pass.txt")))
			if errs != nil {
				t.Fatalf("reloading the normalized form: %v", errs)
			}
			for i := range again.Routers {
				again.Routers[i].Line = f.Routers[i].Line
			}
			if diff := cmp.Diff(f.Routers, again.Routers, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmpopts.IgnoreFields(Router{}, "Password", "Passfile")); diff != "" {
				t.Errorf("reloaded routers differ (-want +got):\n%s", diff)
			}
		})
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestErrorsAtOnce loads a file with many mistakes and checks that every
// one is reported, in file order, as FILE:LINE: reason.
func TestErrorsAtOnce(t *testing.T) {
	path := filepath.Join("testdata", "errors.yaml")
	_, err := testLoader.Load(path)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	testutil.Golden(t, filepath.Join("testdata", "errors.golden"), err.Error()+"\n", *update)
}

func TestFullValues(t *testing.T) {
	f, err := testLoader.Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Routers[0]
	if got, want := string(r.Password.Bytes()), "pa55word"; got != want {
		t.Errorf("passfile password = %q, want %q (first line, \\r\\n stripped)", got, want)
	}
	if !r.Machine.IgnoreTTL {
		t.Error("unicast_ttl_check: false should set Machine.IgnoreTTL")
	}
	if r.Group.IsValid() {
		t.Errorf("Group = %v with peers, want none", r.Group)
	}
	if r.Machine.Addr.IsValid() {
		t.Errorf("Machine.Addr = %v, want zero for the daemon to fill", r.Machine.Addr)
	}
	if r := f.Routers; r[0].SplitBrain != carp.SplitResolve || r[4].SplitBrain != carp.SplitReport {
		t.Errorf("split_brain: %v and %v, want the default resolve and report", r[0].SplitBrain, r[4].SplitBrain)
	}
	if v3 := f.Routers[2]; v3.V3PseudoHeader {
		t.Error("v3_checksum_as_v2: true should clear V3PseudoHeader")
	}
	if v6 := f.Routers[3]; !v6.V3PseudoHeader || v6.Machine.Preempt || v6.Group != carp.Group(true) {
		t.Errorf("v6 router: pseudo %v preempt %v group %v", v6.V3PseudoHeader, v6.Machine.Preempt, v6.Group)
	}
	lines := []int{}
	for _, r := range f.Routers {
		lines = append(lines, r.Line)
	}
	if diff := cmp.Diff([]int{6, 44, 49, 64, 71}, lines); diff != "" {
		t.Errorf("router lines (-want +got):\n%s", diff)
	}
}

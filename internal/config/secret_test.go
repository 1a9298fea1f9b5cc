package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const pw = "Zq7-unique-pass"

// TestPasswordNotInOutput loads files that hold a password, valid and
// invalid, and checks neither WriteNormalized, the errors nor the warnings
// show it.
func TestPasswordNotInOutput(t *testing.T) {
	long := pw + "-and-far-too-long-for-carp"
	pf := passfile(t, long+"\n")
	texts := []string{
		router("    vhid: 1\n    vips: [198.18.0.2]\n    password: " + pw + "\n"),
		router("    vhid: 1\n    vips: [198.18.0.2]\n    password: " + long + "\n"),
		router("    vhid: 1\n    vips: [198.18.0.2]\n    passfile: " + pf + "\n"),
		router("    proto: vrrp3\n    vrid: 1\n    vips: [198.18.0.2]\n    password: " + pw + "\n"),
		router("    vhid: 0\n    vips: [198.18.0.3]\n    password: " + pw + "\n    " + pw + ": 1\n"),
	}
	for i, text := range texts {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := testLoader.Load(path)
		var out bytes.Buffer
		if err == nil {
			if werr := f.WriteNormalized(&out); werr != nil {
				t.Fatal(werr)
			}
			if !strings.Contains(out.String(), "password: '***'") && !strings.Contains(out.String(), "passfile: ") {
				t.Errorf("file %d: normalized output hides no password:\n%s", i, out.String())
			}
		} else {
			out.WriteString(err.Error())
		}
		out.WriteString(strings.Join(f.Warnings, "\n"))
		// The last file uses the password as a key, which is echoed as
		// typed; everything else must stay silent.
		if i < 4 && strings.Contains(out.String(), pw) {
			t.Errorf("file %d: output shows the password:\n%s", i, out.String())
		}
	}
	_, err := testLoader.FromArgs([]string{"-i", "eth0", "-v", "1", "-a", "198.18.0.2", "-p", long})
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("FromArgs error %v: want an error without the password", err)
	}
}

func TestPermissionWarnings(t *testing.T) {
	text := router("    vhid: 1\n    vips: [198.18.0.2]\n    password: pw\n")
	tests := []struct {
		name       string
		mode       os.FileMode
		passfile   os.FileMode // 0: password in the file itself
		wantSuffix []string
	}{
		{"private file", 0o600, 0, nil},
		{"group-readable file", 0o640, 0, []string{"holds a password and is readable by group or others (mode 0640): move the password to a passfile with mode 0600, or chmod 600 DIR/c.yaml"}},
		{"world-readable file", 0o644, 0, []string{"holds a password and is readable by group or others (mode 0644): move the password to a passfile with mode 0600, or chmod 600 DIR/c.yaml"}},
		{"private passfile, readable config", 0o644, 0o600, nil},
		{"readable passfile", 0o600, 0o604, []string{"passfile DIR/pass is readable by group or others (mode 0604): chmod 600 DIR/pass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			body := text
			if tt.passfile != 0 {
				if err := os.WriteFile(filepath.Join(dir, "pass"), []byte("pw\n"), tt.passfile); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(dir, "pass"), tt.passfile); err != nil {
					t.Fatal(err)
				}
				body = strings.Replace(text, "password: pw", "passfile: pass", 1)
			}
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(body), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			f, err := testLoader.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range f.Warnings {
				got = append(got, strings.TrimPrefix(strings.ReplaceAll(w, dir, "DIR"), "DIR/c.yaml "))
			}
			if diff := cmp.Diff(tt.wantSuffix, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

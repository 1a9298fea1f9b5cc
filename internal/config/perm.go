package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxPassfile bounds what is read from a passfile: only its first line
// matters, and a wrong path to a huge file must not eat memory.
const maxPassfile = 4096

// ReadPassfile returns the first line of path without its line ending,
// like ucarp -o (which strips \n; \r goes too, for files edited on
// Windows).
func ReadPassfile(path string) (string, error) {
	line, _, err := readPassfile(path)
	return line, err
}

// readPassfile is ReadPassfile, also returning the file's permissions.
func readPassfile(path string) (string, os.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("reading the password: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("reading the password: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%s is not a regular file", path)
	}
	line, err := bufio.NewReader(io.LimitReader(f, maxPassfile)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, fmt.Errorf("reading the password from %s: %w", path, err)
	}
	return strings.TrimRight(line, "\r\n"), fi.Mode().Perm(), nil
}

// readPassfile is ReadPassfile for a configuration: it warns when others
// may read the file.
func (p *parser) readPassfile(path string) (string, error) {
	line, perm, err := readPassfile(path)
	if err != nil {
		return "", err
	}
	if perm&0o077 != 0 {
		p.warnf("passfile %s is readable by group or others (mode %04o): chmod 600 %s", path, perm, path)
	}
	return line, nil
}

// warnReadable warns when a config file holding a password can be read by
// anyone but its owner.
func (p *parser) warnReadable(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		p.warnf("%s holds a password and is readable by group or others (mode %04o): move the password to a passfile with mode 0600, or chmod 600 %s", path, perm, path)
	}
}

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// SafePath is the PATH hooks and track scripts run with, and where a
// program given by bare name is looked up when the file is loaded.
const SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxSymlinks bounds the symbolic links followed for one path, as Linux
// does (MAXSYMLINKS).
const maxSymlinks = 40

// SystemScript is the Loader's default Script: it looks a bare name up in
// SafePath and checks the program with CheckScript for root and this
// process's effective user.
func SystemScript(name string) (string, error) {
	path := name
	if !strings.Contains(name, "/") {
		var err error
		if path, err = lookSafePath(name); err != nil {
			return "", err
		}
	}
	return path, CheckScript(path, 0, uint32(os.Geteuid()))
}

// lookSafePath finds name in SafePath, as exec.LookPath would with that
// PATH, without reading the environment's.
func lookSafePath(name string) (string, error) {
	for _, dir := range filepath.SplitList(SafePath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s (give an absolute path)", name, SafePath)
}

// CheckScript says why the program at path, absolute, is not safe to run
// with carpd's privileges, as keepalived's enable_script_security does
// (keepalived/core/notify.c, check_security): the file and every
// directory leading to it, symbolic links followed (their targets and the
// directories of those), must be owned by one of owners, and none may be
// writable by a group other than root's or by others, since whoever can
// write them can replace what carpd runs. A directory with the sticky bit
// (/tmp) may be writable by all: others cannot rename or remove the
// entries it holds that they do not own. The file must be a regular,
// executable file.
func CheckScript(path string, owners ...uint32) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s is not an absolute path", path)
	}
	if err := checkNode("/", owners, true); err != nil {
		return err
	}
	pending := strings.Split(path, "/")
	cur, links := "/", 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			// cur holds no symbolic link, so its parent is Dir.
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist) && next == filepath.Clean(path):
			return fmt.Errorf("%s does not exist", path)
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s: %s does not exist", path, next)
		case err != nil:
			return fmt.Errorf("checking %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxSymlinks {
				return fmt.Errorf("%s: too many levels of symbolic links", path)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("checking %s: %w", path, err)
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			pending = append(strings.Split(target, "/"), pending...)
			continue
		}
		last := !slices.ContainsFunc(pending, func(s string) bool { return s != "" && s != "." })
		if !last && !fi.IsDir() {
			return fmt.Errorf("checking %s: %s is not a directory", path, next)
		}
		if err := checkNode(next, owners, fi.IsDir()); err != nil {
			return err
		}
		cur = next
	}
	fi, err := os.Stat(cur)
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", what(path, cur))
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable (mode %04o)", what(path, cur), fi.Mode().Perm())
	}
	return nil
}

// what names the file checked: path, and what it resolves to if that
// differs.
func what(path, resolved string) string {
	if path == resolved {
		return path
	}
	return fmt.Sprintf("%s (-> %s)", path, resolved)
}

// checkNode applies the owner and write rules to one file or directory.
func checkNode(path string, owners []uint32, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("file owners are unknown on this system")
	}
	mode := fi.Mode()
	if !slices.Contains(owners, st.Uid) {
		return fmt.Errorf("%s is owned by uid %d, not %s: chown root %s", path, st.Uid, ownerNames(owners), path)
	}
	if dir && mode&fs.ModeSticky != 0 {
		return nil
	}
	if mode&0o002 != 0 || mode&0o020 != 0 && st.Gid != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): chmod go-w %s", path, mode.Perm(), path)
	}
	return nil
}

func ownerNames(owners []uint32) string {
	s := make([]string, 0, len(owners))
	for _, o := range slices.Compact(slices.Sorted(slices.Values(owners))) {
		if o == 0 {
			s = append(s, "root")
		} else {
			s = append(s, fmt.Sprintf("uid %d (carpd's user)", o))
		}
	}
	return strings.Join(s, " or ")
}

// lookupScriptUser reads script_user: USER or USER:GROUP, by name or
// number. Without a group the user's primary group and supplementary
// groups apply, as after a login; with one, that group alone.
func lookupScriptUser(s string) (*ScriptUser, error) {
	name, group, hasGroup := strings.Cut(s, ":")
	if name == "" || hasGroup && group == "" {
		return nil, fmt.Errorf("%q: expected USER or USER:GROUP", s)
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return nil, fmt.Errorf("no user %q on this system", name)
		}
	}
	su := &ScriptUser{Name: s}
	if su.UID, err = parseID(u.Uid); err != nil {
		return nil, err
	}
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			if g, err = user.LookupGroupId(group); err != nil {
				return nil, fmt.Errorf("no group %q on this system", group)
			}
		}
		su.GID, err = parseID(g.Gid)
		return su, err
	}
	if su.GID, err = parseID(u.Gid); err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("listing the groups of %s: %w", name, err)
	}
	for _, id := range ids {
		g, err := parseID(id)
		if err != nil {
			return nil, err
		}
		su.Groups = append(su.Groups, g)
	}
	return su, nil
}

// parseID reads a numeric user or group id as os/user returns it.
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("reading the id %q: %w", s, err)
	}
	return uint32(n), nil
}

package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// debianPidFile is where the mosquitto.conf of Debian's package has
// mosquitto write its pid.
const debianPidFile = "/run/mosquitto/mosquitto.pid"

// mosquittoUnit is the systemd unit of Debian's mosquitto package.
const mosquittoUnit = "mosquitto.service"

// brokerSystem warns about the distribution's own mosquitto, which the
// packages set up to run under systemd, not under carpd: its pid file's
// directory is made by the unit (Debian 12's mosquitto.service creates
// /run/mosquitto in ExecStartPre, and /run is empty after a boot), so a
// mosquitto started by carpd with the stock mosquitto.conf exits ("Unable
// to write pid file"); and the unit, when enabled or running, holds the
// broker's port and fights carpd's broker for it. The files are read, no
// program is run: carpd check changes nothing and needs no systemctl.
func (p *parser) brokerSystem(s *brokerSpec) {
	b := &s.b
	if b.Conf != nil && b.Conf.PidFile != "" && filepath.IsAbs(b.Conf.PidFile) {
		dir := filepath.Dir(b.Conf.PidFile)
		if _, err := os.Stat(p.sys(dir)); errors.Is(err, fs.ErrNotExist) {
			p.warnf("%s: broker.config: %s has pid_file %s but %s does not exist: mosquitto will exit "+
				"(\"Unable to write pid file\"); create it owned by mosquitto at every boot "+
				"(the carpd package's tmpfiles.d entry does: systemd-tmpfiles --create carpd.conf; "+
				"or a line d %s 0740 mosquitto root -) or remove pid_file",
				p.where(s.lineOf("config"), ""), b.Config, b.Conf.PidFile, dir, dir)
		}
	}
	wants, _ := filepath.Glob(p.sys("/etc/systemd/system/*.wants/" + mosquittoUnit))
	for _, w := range wants {
		target := strings.TrimPrefix(filepath.Dir(w), strings.TrimSuffix(p.sys("/"), "/"))
		p.warnf("broker: %s is enabled (%s): at boot it starts a second mosquitto that holds port %d and "+
			"fights carpd's broker; run systemctl disable --now mosquitto", mosquittoUnit, target, b.Addr.Port())
		break
	}
	if pid := p.unitPid(b); pid != 0 {
		p.warnf("broker: %s is running (pid %d): it holds port %d and fights carpd's broker; "+
			"run systemctl disable --now mosquitto", mosquittoUnit, pid, b.Addr.Port())
	}
}

// unitPid returns the pid of a mosquitto that systemd runs as
// mosquitto.service, found through the pid files it may write and its
// cgroup, which tells it from the broker carpd itself runs; 0 if none.
func (p *parser) unitPid(b *Broker) int {
	files := []string{debianPidFile}
	if b.Conf != nil && b.Conf.PidFile != "" && b.Conf.PidFile != debianPidFile {
		files = append(files, b.Conf.PidFile)
	}
	for _, f := range files {
		data, err := os.ReadFile(p.sys(f))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		cg, err := os.ReadFile(p.sys("/proc/" + strconv.Itoa(pid) + "/cgroup"))
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(cg, []byte("\n")) {
			if bytes.HasSuffix(line, []byte("/"+mosquittoUnit)) {
				return pid
			}
		}
	}
	return 0
}

// sys is path under Loader.Root.
func (p *parser) sys(path string) string {
	return filepath.Join(p.root, path)
}

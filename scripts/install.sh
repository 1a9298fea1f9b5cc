#!/bin/sh
# install.sh: build carpd and install the binary, the systemd unit and an
# example configuration. Idempotent: running it again replaces what
# changed and reports the rest as unchanged; it never overwrites
# /etc/carpd/carpd.yaml and never enables or starts the service.
#
# Environment:
#   DESTDIR     stage into this directory instead of / (no root needed;
#               packaging and tests)
#   PREFIX      binary goes to PREFIX/sbin (default /usr/local)
#   SYSCONFDIR  configuration directory (default /etc)
#   UNITDIR     systemd unit directory (default /etc/systemd/system)
#   CARPD_BIN   install this binary instead of building one
#   GO          the go command (default go)
set -eu

PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-/etc/systemd/system}
DESTDIR=${DESTDIR:-}
GO=${GO:-go}

say() { printf 'install.sh: %s\n' "$*"; }

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
	say "installing into the system needs root: run 'sudo $0'," >&2
	say "or set DESTDIR=/some/dir to stage the files without root." >&2
	exit 1
fi

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# put SRC DST MODE: install SRC as DST unless DST already has that content
# and mode.
put() {
	src=$1 dst=$2 mode=$3
	if [ -f "$dst" ] && cmp -s "$src" "$dst" &&
		[ "$(stat -c %a "$dst")" = "$(printf '%s' "$mode" | sed 's/^0*//')" ]; then
		say "unchanged $dst"
		return
	fi
	mkdir -p "$(dirname "$dst")"
	# Install beside the target and rename, so a running carpd's binary is
	# replaced, not rewritten in place ("text file busy").
	cp "$src" "$dst.new.$$"
	chmod "$mode" "$dst.new.$$"
	mv -f "$dst.new.$$" "$dst"
	say "installed $dst"
}

if [ -n "${CARPD_BIN:-}" ]; then
	cp "$CARPD_BIN" "$tmp/carpd"
else
	say "building carpd"
	# Stamp the commit into the binary (carpd version) when this is a git
	# checkout; a source tarball builds without it.
	vcs=false
	if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then vcs=true; fi
	(cd "$root" && CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=$vcs -o "$tmp/carpd" ./cmd/carpd)
fi

sbin="$PREFIX/sbin/carpd"
put "$tmp/carpd" "$DESTDIR$sbin" 0755
sed "s#/usr/local/sbin/carpd#$sbin#g; s#/etc/carpd/#$SYSCONFDIR/carpd/#g" \
	"$root/scripts/carpd.service" >"$tmp/carpd.service"
put "$tmp/carpd.service" "$DESTDIR$UNITDIR/carpd.service" 0644
# Only a directory made here gets a mode: one that exists keeps the
# operator's (0750 or 0700 for the password files beside carpd.yaml).
if [ ! -d "$DESTDIR$SYSCONFDIR/carpd" ]; then
	mkdir -p "$DESTDIR$SYSCONFDIR/carpd"
	chmod 0755 "$DESTDIR$SYSCONFDIR/carpd"
fi
put "$root/scripts/carpd.yaml.example" "$DESTDIR$SYSCONFDIR/carpd/carpd.yaml.example" 0644

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	say "systemd reloaded"
fi

conf="$SYSCONFDIR/carpd/carpd.yaml"
if [ ! -e "$DESTDIR$conf" ]; then
	say "next: install -m 0600 $conf.example $conf, edit it, check it with"
	say "      $sbin check -c $conf, then systemctl enable --now carpd"
fi

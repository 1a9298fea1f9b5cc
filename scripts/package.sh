#!/bin/sh
# package.sh: build a Debian package of carpd (dpkg-deb, no debhelper):
# the static binary, the systemd unit, the example configuration (a
# conffile), man pages and shell completion generated from the CLI,
# carpd.yaml(5) from docs/config.md, and a tmpfiles.d entry. The service
# is installed disabled. Install with `sudo apt install ./carpd_*.deb`.
#
#   scripts/package.sh [--arch amd64|arm64] [--out DIR]
#   scripts/package.sh --print-version
#
# --arch  target architecture (default: the host's, as go env GOARCH says)
# --out   directory for carpd_VERSION_ARCH.deb (default: the current one)
#
# Version: the tag on HEAD without its "v" ("-rc1" becomes "~rc1", which
# dpkg sorts before the release), else 0.0.0+gitYYYYMMDD.COMMIT with the
# commit date in UTC. SOURCE_DATE_EPOCH (default: the commit time) dates
# the man pages, the changelog and every file, so one commit gives the
# same package.
#
# Environment: GO (default go), DEBFULLNAME and DEBEMAIL for Maintainer.
set -eu

GO=${GO:-go}
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'package.sh: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

arch= out=$(pwd) print_version=false
while [ $# -gt 0 ]; do
	case $1 in
	--arch) [ $# -ge 2 ] || die "--arch needs a value"; arch=$2; shift 2 ;;
	--arch=*) arch=${1#--arch=}; shift ;;
	--out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
	--out=*) out=${1#--out=}; shift ;;
	--print-version) print_version=true; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

# version prints the package version of the checkout in $root.
version() {
	if tag=$(git -C "$root" describe --tags --exact-match HEAD 2>/dev/null); then
		printf '%s\n' "${tag#v}" | tr - '~'
	else
		date=$(TZ=UTC git -C "$root" show -s --format=%cd --date=format-local:%Y%m%d HEAD)
		printf '0.0.0+git%s.%s\n' "$date" "$(git -C "$root" rev-parse --short=7 HEAD)"
	fi
}

git -C "$root" rev-parse --git-dir >/dev/null 2>&1 || die "$root is not a git checkout: the version comes from git"
v=$(version)
case $v in
[0-9]*) ;;
*) die "version $v from the tag does not start with a digit (dpkg requires it)" ;;
esac
if $print_version; then
	printf '%s\n' "$v"
	exit 0
fi

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"
host=$(CGO_ENABLED=0 "$GO" env GOARCH)
arch=${arch:-$host}
case $arch in
amd64 | arm64) ;;
*) die "--arch $arch: amd64 or arm64" ;;
esac
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
	say "warning: the checkout has uncommitted changes; $v names HEAD"
fi
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" show -s --format=%ct HEAD)}
export SOURCE_DATE_EPOCH

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
pkg=$tmp/pkg
umask 022

# -s -w: Debian ships stripped binaries; panics still have their stack
# traces (the pclntab stays). -trimpath: no build paths in the binary.
ldflags="-s -w -X main.version=$v"
say "building carpd $v for $arch"
(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -buildvcs=false \
	-ldflags "$ldflags" -o "$tmp/carpd" ./cmd/carpd)
# The pages and completion come from a host build with the genman tag
# (the same command tree plus the hidden gen-man); the shipped binary does
# not carry the generator.
(cd "$root" && CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -tags genman \
	-ldflags "$ldflags" -o "$tmp/carpd-genman" ./cmd/carpd)

install -d "$pkg/DEBIAN" "$pkg/usr/sbin" "$pkg/lib/systemd/system" "$pkg/etc/carpd" \
	"$pkg/usr/lib/tmpfiles.d" "$pkg/usr/share/man/man8" "$pkg/usr/share/man/man5" \
	"$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" \
	"$pkg/usr/share/fish/vendor_completions.d" "$pkg/usr/share/doc/carpd"
install -m 0755 "$tmp/carpd" "$pkg/usr/sbin/carpd"

# The unit as it is, with the package's paths: /usr/sbin/carpd and this
# header line.
sed -e 's#/usr/local/sbin/carpd#/usr/sbin/carpd#g' \
	-e 's|^# Installed by scripts/install.sh to .*|# Installed by the carpd package as /lib/systemd/system/carpd.service.|' \
	"$root/scripts/carpd.service" >"$tmp/carpd.service"
grep -q '^ExecStart=/usr/sbin/carpd ' "$tmp/carpd.service" || die "scripts/carpd.service: no ExecStart=/usr/local/sbin/carpd to adapt"
install -m 0644 "$tmp/carpd.service" "$pkg/lib/systemd/system/carpd.service"
install -m 0644 "$root/scripts/debian/carpd.tmpfiles" "$pkg/usr/lib/tmpfiles.d/carpd.conf"
install -m 0644 "$root/scripts/carpd.yaml.example" "$pkg/etc/carpd/carpd.yaml.example"

"$tmp/carpd-genman" gen-man --config-doc "$root/docs/config.md" "$tmp/man"
for page in "$tmp"/man/*.[58]; do
	sect=${page##*.}
	gzip -9n <"$page" >"$pkg/usr/share/man/man$sect/${page##*/}.gz"
done
chmod 0644 "$pkg"/usr/share/man/man?/*

"$tmp/carpd-genman" completion bash >"$pkg/usr/share/bash-completion/completions/carpd"
"$tmp/carpd-genman" completion zsh >"$pkg/usr/share/zsh/vendor-completions/_carpd"
"$tmp/carpd-genman" completion fish >"$pkg/usr/share/fish/vendor_completions.d/carpd.fish"

doc=$pkg/usr/share/doc/carpd
install -m 0644 "$root/README.md" "$doc/README.md"
{
	printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
	printf 'Upstream-Name: carpd\nSource: https://github.com/carpd/carpd\n\n'
	printf 'Files: *\nCopyright: %s\nLicense: BSD-2-Clause\n' \
		"$(sed -n 's/^Copyright (c) //p' "$root/LICENSE" | head -n 1)"
	# The license text after its title and copyright lines, as the
	# format's indented block; empty lines become " .".
	sed -n '/^Redistribution/,$p' "$root/LICENSE" | sed 's/^$/./; s/^/ /'
} >"$doc/copyright"
maintainer="${DEBFULLNAME:-carpd authors} <${DEBEMAIL:-carpd@users.noreply.github.com}>"
{
	printf 'carpd (%s) unstable; urgency=medium\n\n' "$v"
	printf '  * Built by scripts/package.sh from commit\n    %s.\n\n' "$(git -C "$root" rev-parse HEAD)"
	printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz" # a native package's name (no Debian revision)
chmod 0644 "$doc"/*
# Go links statically by design; lintian exempts Go only when it sees the
# source package's Build-Depends, which a binary-only build has none of.
install -d "$pkg/usr/share/lintian/overrides"
printf '%s\n' 'carpd: statically-linked-binary [usr/sbin/carpd]' >"$pkg/usr/share/lintian/overrides/carpd"
chmod 0644 "$pkg/usr/share/lintian/overrides/carpd"

for s in postinst prerm postrm; do
	install -m 0755 "$root/scripts/debian/$s" "$pkg/DEBIAN/$s"
done
printf '/etc/carpd/carpd.yaml.example\n' >"$pkg/DEBIAN/conffiles"
# md5sums of everything but the conffiles, as dh_md5sums writes it (dpkg
# --verify and debsums read it).
(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' |
	LC_ALL=C sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"

# Installed-Size as dpkg-gencontrol counts it: each file's size in KiB
# rounded up, one KiB for every directory (the top one too) and other
# entry; DEBIAN is not installed.
size=$(cd "$pkg" && find . -path ./DEBIAN -prune -o -printf '%y %s\n' |
	awk '$1 == "f" { k += int(($2 + 1023) / 1024); next } { k += 1 } END { print k }')
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: carpd
Version: $v
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Recommends: mosquitto
Suggests: nftables
Section: net
Priority: optional
Homepage: https://github.com/carpd/carpd
Description: CARP/VRRP floating IP for a supervised MQTT broker
 carpd keeps an MQTT broker highly available behind a floating IP, in one
 process: election, address, DNAT, conntrack, broker supervision,
 gratuitous ARP and a probe that proves the bridge between the two brokers
 replicates. It speaks CARP (ucarp, OpenBSD, FreeBSD) and VRRP v2/v3
 (keepalived) on the wire, so it can join or replace an existing pair one
 node at a time.
 .
 The service is installed disabled: write /etc/carpd/carpd.yaml (from
 carpd.yaml.example), check it with carpd check, then
 systemctl enable --now carpd.
CONTROL
chmod 0644 "$pkg/DEBIAN/control"

find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb=$out/carpd_${v}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
say "built $deb ($(wc -c <"$deb") bytes, Installed-Size $size KiB)"

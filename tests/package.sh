#!/usr/bin/env bash
# The packages as an administrator meets them, in a clean Debian root made here by
# debootstrap (minbase) and entered with chroot in private mount, PID and network namespaces:
#
#   the amd64 .deb: installed; the user, the file modes, the man page, nothing started;
#   `sharehook check` on the file as shipped and once a share is named; the SysV script
#   starts, reports and stops the daemon; an upgrade keeps an edited configuration and the
#   state and restarts the running daemon; remove keeps both; purge deletes both;
#   the x86_64 tarball's install.sh: install, upgrade keeping the configuration, uninstall.
#
#   tests/package.sh [target/dist]      (as root; cross/package.sh makes target/dist)
#
# Installs debootstrap when missing. SHAREHOOK_MIRROR overrides the Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=$(cd "${1:-target/dist}" && pwd)

[ "$(id -u)" = 0 ] || { echo "tests/package.sh: run as root (it builds a root with debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
deb="$dist/sharehook_${version}_amd64.deb"
tarball="$dist/sharehook-$version-x86_64-unknown-linux-musl.tar.gz"
[ -f "$deb" ] && [ -f "$tarball" ] || { echo "tests/package.sh: $deb or $tarball is missing: run cross/package.sh first" >&2; exit 1; }

# An upgrade: the same files as a later version.
upgrade="$dist/sharehook_${version}+upgrade_amd64.deb"
up=$(mktemp -d)
dpkg-deb -R "$deb" "$up/pkg"
sed -i "s/^Version: .*/Version: ${version}+upgrade/" "$up/pkg/DEBIAN/control"
echo "# a later version's example" >>"$up/pkg/usr/share/sharehook/sharehook.toml"
dpkg-deb --root-owner-group --build "$up/pkg" "$upgrade" >/dev/null
rm -rf "$up"

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
root=$(mktemp -d /var/tmp/sharehook-package-root.XXXXXX)
chmod 755 "$root"   # its /: the daemon runs as sharehook in it
trap 'rm -f "$upgrade"; [ -n "${SHAREHOOK_KEEP_ROOT:-}" ] || rm -rf "$root"' EXIT
echo "== a clean $codename root (debootstrap --variant=minbase) in $root"
started=$(date +%s)
debootstrap --variant=minbase "$codename" "$root" "${SHAREHOOK_MIRROR:-http://deb.debian.org/debian}" >"$root.log" 2>&1 ||
    { tail -20 "$root.log"; echo "tests/package.sh: debootstrap failed (log above)" >&2; exit 1; }
rm -f "$root.log"
echo "   made in $(( $(date +%s) - started )) s"
cp "$deb" "$root/tmp/sharehook.deb"
cp "$upgrade" "$root/tmp/sharehook-upgrade.deb"
cp "$tarball" "$root/tmp/sharehook.tar.gz"

cat >"$root/tmp/inside.sh" <<'INSIDE'
#!/bin/sh
set -eu
step() { echo "-- $*"; }
fail() {
    echo "FAILED: $*" >&2
    if [ -s /var/log/sharehook.log ]; then
        echo "--- the end of /var/log/sharehook.log:" >&2
        tail -20 /var/log/sharehook.log >&2
    fi
    exit 1
}
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
    what=$1; shift
    "$@" >/dev/null 2>&1 || fail "$what"
}
mode() { stat -c '%a %U:%G' "$1"; }
config=/etc/sharehook/sharehook.toml

step "install the .deb"
dpkg -i /tmp/sharehook.deb >/tmp/install.out 2>&1 || { cat /tmp/install.out; fail "dpkg -i"; }
cat /tmp/install.out
grep -q "not running" /tmp/install.out || fail "the install does not say that nothing runs yet"
/usr/bin/sharehook --version
getent passwd sharehook | grep -q "/var/lib/sharehook" || fail "no sharehook user"
[ "$(mode $config)" = "640 root:sharehook" ] || fail "$config is $(mode $config), not 640 root:sharehook"
cmp -s $config /usr/share/sharehook/sharehook.toml || fail "$config is not the shipped example"
[ "$(mode /var/lib/sharehook)" = "700 sharehook:sharehook" ] || fail "/var/lib/sharehook is $(mode /var/lib/sharehook)"
for f in /usr/lib/systemd/system/sharehook.service /usr/lib/sysusers.d/sharehook.conf \
    /usr/lib/sysctl.d/60-sharehook-inotify.conf /etc/init.d/sharehook /etc/logrotate.d/sharehook \
    /usr/share/bash-completion/completions/sharehook; do
    [ -f "$f" ] || fail "$f is missing"
done
grep -q '^ExecStart=/usr/bin/sharehook run' /usr/lib/systemd/system/sharehook.service || fail "the unit does not run /usr/bin/sharehook"
zcat /usr/share/man/man1/sharehook.1.gz | grep -q '^\.TH' || fail "no man page"
[ ! -e /run/sharehook.pid ] || fail "something was started"
/etc/init.d/sharehook status >/dev/null 2>&1 && fail "the daemon runs before any share is named"

step "sharehook check on the file as shipped: no share yet"
if sharehook check >/tmp/check.out 2>&1; then cat /tmp/check.out; fail "check passed a file with no share"; fi
cat /tmp/check.out
grep -q "$config" /tmp/check.out || fail "check does not name the file"

step "name a share and a webhook; check"
mkdir -p /srv/public
cat >>$config <<CONF

[[share]]
name = "public"
path = "/srv/public"

[[webhook]]
url = "http://127.0.0.1:9/hook"

[web]
listen = []
CONF
sharehook check >/tmp/check.out 2>&1 || { cat /tmp/check.out; fail "check refused a configured share"; }
grep -q '/srv/public' /tmp/check.out || fail "check does not print the share"

step "the SysV script starts, reports and stops the daemon"
/etc/init.d/sharehook start
pid=$(cat /run/sharehook.pid)
/etc/init.d/sharehook status || fail "status after start"
[ "$(stat -c %U /proc/$pid)" = sharehook ] || fail "the daemon does not run as sharehook"
# Each line of the log file begins with its time.
ready() { grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info: ready$' /var/log/sharehook.log; }
wait_ready() {
    n=0
    until [ "$(ready)" -ge "$1" ]; do
        n=$((n + 1)); [ $n -lt 100 ] || fail "the daemon never said it was ready (a timed line)"
        sleep 0.1
    done
}
wait_ready 1
[ -f /var/lib/sharehook/sharehook.redb ] || fail "no state file"
identity=$(grep -o 'identity [0-9a-f]*' /var/log/sharehook.log)
[ -n "$identity" ] || fail "the log does not give the state's identity"

step "a stale pid file naming another process: not ours to report or stop"
/etc/init.d/sharehook stop
sleep 60 &
other=$!
echo $other >/run/sharehook.pid
if /etc/init.d/sharehook status; then fail "status took pid $other (sleep) for the daemon"; fi
/etc/init.d/sharehook stop
kill -0 $other || fail "stop killed pid $other, which is not sharehook"
kill $other
/etc/init.d/sharehook start
wait_ready 2

step "upgrade: the edited configuration and the state stay; the daemon is restarted"
pid=$(cat /run/sharehook.pid)
echo "# edited by the admin" >>$config
sum=$(md5sum <$config)
dpkg -i /tmp/sharehook-upgrade.deb
[ "$(md5sum <$config)" = "$sum" ] || fail "the upgrade changed $config"
grep -q "a later version's example" /usr/share/sharehook/sharehook.toml || fail "the new example is not installed"
[ "$(mode $config)" = "640 root:sharehook" ] || fail "after the upgrade $config is $(mode $config)"
[ -f /var/lib/sharehook/sharehook.redb ] || fail "the upgrade lost the state"
/etc/init.d/sharehook status || fail "not running after the upgrade"
[ "$(cat /run/sharehook.pid)" != "$pid" ] || fail "the daemon was not restarted by the upgrade"
kill -0 "$pid" 2>/dev/null && fail "the old daemon (pid $pid) still runs beside the new one"
wait_ready 3
[ "$(grep -o 'identity [0-9a-f]*' /var/log/sharehook.log | sort -u)" = "$identity" ] ||
    fail "the upgraded daemon opened another state: $(grep -o 'identity [0-9a-f]*' /var/log/sharehook.log | sort -u | tr '\n' ' ')"
dpkg -s sharehook | grep -q "^Version: .*+upgrade" || fail "the upgrade is not installed"

step "remove: the program goes; the configuration and the state stay"
pid=$(cat /run/sharehook.pid)
dpkg -r sharehook
[ ! -e /usr/bin/sharehook ] || fail "the binary stayed"
[ -f $config ] || fail "remove deleted $config"
[ -f /var/lib/sharehook/sharehook.redb ] || fail "remove deleted the state"
kill -0 "$pid" 2>/dev/null && fail "the daemon (pid $pid) still runs after the package was removed"
/etc/init.d/sharehook start || fail "the script left behind by remove does not exit 0 without its binary"

step "purge: the configuration and the state go"
dpkg -P sharehook
[ ! -e /etc/sharehook ] || fail "purge kept /etc/sharehook"
[ ! -e /var/lib/sharehook ] || fail "purge kept /var/lib/sharehook"

step "the tarball's install.sh: install (making the user, whose group exists), upgrade, uninstall"
userdel sharehook
groupadd --system sharehook
mkdir -p /tmp/tar && tar -C /tmp/tar -xzf /tmp/sharehook.tar.gz
cd /tmp/tar/sharehook-*
./install.sh >/tmp/out 2>&1 || { cat /tmp/out; fail "install.sh"; }
cat /tmp/out
id sharehook | grep -q "(sharehook)" || fail "install.sh did not make the user in the group sharehook"
/usr/local/bin/sharehook --version
[ "$(mode $config)" = "640 root:sharehook" ] || fail "install.sh made $config $(mode $config)"
grep -q '^DAEMON=${SHAREHOOK_DAEMON:-/usr/local/bin/sharehook}' /etc/init.d/sharehook || fail "the init script does not run /usr/local/bin/sharehook"
[ -f /usr/local/share/man/man1/sharehook.1 ] || fail "no man page"
echo "# edited by the admin" >>$config
./install.sh >/tmp/out 2>&1 || { cat /tmp/out; fail "install.sh, again"; }
grep -q "kept $config" /tmp/out || fail "install.sh does not say it kept $config"
grep -q "edited by the admin" $config || fail "install.sh replaced $config"
./install.sh --uninstall
[ ! -e /usr/local/bin/sharehook ] || fail "--uninstall kept the binary"
[ ! -e /etc/init.d/sharehook ] || fail "--uninstall kept the init script"
[ -f $config ] || fail "--uninstall deleted $config"
[ -d /var/lib/sharehook ] || fail "--uninstall deleted the state folder"
./install.sh --purge
[ ! -e /etc/sharehook ] || fail "--purge kept /etc/sharehook"
[ ! -e /var/lib/sharehook ] || fail "--purge kept /var/lib/sharehook"
echo "-- all package checks passed"
INSIDE
chmod 755 "$root/tmp/inside.sh"

echo "== the packages in the clean root"
unshare --mount --pid --net --fork --mount-proc="$root/proc" chroot "$root" /tmp/inside.sh

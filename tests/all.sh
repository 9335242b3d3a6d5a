#!/usr/bin/env bash
# Runs every test: the unit and black-box tests on this machine; the three static binaries
# and their packages built, and the amd64 package installed, upgraded, removed and purged in
# a clean debootstrapped root; then the black-box tests again with the static aarch64 and
# armv7 binaries under qemu. On a fresh Debian machine (as root) it installs what it needs:
# qemu-user, systemd-analyze, clang (for the cross builds), debootstrap, the real
# peers of the client tests (samba, smbclient, rsync, bindfs), python3-venv (the Standard
# Webhooks and API tests' Python clients), nodejs and npm (ExaVault's JavaScript SDK),
# openssl, groff, mandoc, zsh and fish (the manual page and the completion scripts), and
# headless Chromium with its driver (the web page's tests).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# Real peers for the client tests: a Samba server and client, rsync, a FUSE mount.
[ -x /usr/sbin/smbd ] || need+=(samba)
command -v smbclient >/dev/null 2>&1 || need+=(smbclient)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v bindfs >/dev/null 2>&1 || need+=(bindfs)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# Who did it over SFTP: a real sshd whose SFTP sessions log through a real rsyslog.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v sftp >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
# The Standard Webhooks reference implementation (from PyPI) runs in a Python virtual
# environment; a private CA for the HTTPS receiver is made with openssl.
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# ExaVault's JavaScript SDK (from npm, pinned by tests/api/js/package-lock.json) runs on node.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# `sharehook manual` is checked with groff and mandoc, `sharehook completion` with zsh and fish
# (and bash).
command -v groff >/dev/null 2>&1 || need+=(groff-base)
command -v mandoc >/dev/null 2>&1 || need+=(mandoc)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
# The web page is tested in a real browser, driven by Selenium through chromedriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
# Brokers the NATS and MQTT webhooks publish to: a JetStream cluster and mosquitto.
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "tests/all.sh: these are needed and missing: ${need[*]} (apt-get install ${need[*]})" >&2
        exit 1
    fi
fi

# The API tests run ExaVault's own Python SDK and schemathesis, and the page tests Selenium,
# from a virtual environment.
SHAREHOOK_PYTHON="$(bash tests/api/venv.sh)"
export SHAREHOOK_PYTHON
# ExaVault's JavaScript SDK, installed under target/ from its lock.
SHAREHOOK_NODE_MODULES="$(bash tests/api/node.sh)"
export SHAREHOOK_NODE_MODULES

echo "== unit and black-box tests, native"
cargo test --locked

echo "== the unit's exposure (systemd-analyze security; the e2e test holds it at 1.9 or less)"
unit=$(mktemp -d)
sed "s#/usr/bin/sharehook#$PWD/target/debug/sharehook#" systemd/sharehook.service >"$unit/sharehook.service"
systemd-analyze security --offline=true --no-pager "$unit/sharehook.service" | grep "Overall exposure"
rm -rf "$unit"

echo "== static binaries (x86_64, aarch64, armv7) and their packages"
cross/package.sh

echo "== the amd64 package in a clean root"
tests/package.sh

# The two ARM legs run side by side: under qemu most of a test's time is spent waiting
# (settle periods, retries, the oracle's pauses), so together they take little more than
# one. Each runs the same e2e test binary, built once here.
built=$(cargo test --locked --test e2e --no-run 2>&1)
echo "$built"
e2e=$(echo "$built" | sed -n 's/.*Executable tests\/e2e\/main.rs (\(.*\))$/\1/p')
[ -x "$e2e" ] || { echo "tests/all.sh: could not find the e2e test binary" >&2; exit 1; }
logs=$(mktemp -d)
pids=()
legs=(aarch64-unknown-linux-musl:qemu-aarch64 armv7-unknown-linux-musleabihf:qemu-arm)
for leg in "${legs[@]}"; do
    SHAREHOOK_BIN="$PWD/target/${leg%%:*}/release/sharehook" SHAREHOOK_RUNNER=${leg##*:} \
        "$e2e" >"$logs/${leg%%:*}.log" 2>&1 &
    pids+=($!)
done
failed=0
for i in "${!legs[@]}"; do
    leg=${legs[$i]}
    status=0
    wait "${pids[$i]}" || status=$?
    echo "== black-box tests, ${leg%%:*} binary under ${leg##*:}"
    cat "$logs/${leg%%:*}.log"
    [ "$status" = 0 ] || { echo "== the ${leg%%:*} leg failed (exit status $status)"; failed=1; }
done
rm -rf "$logs"
exit $failed

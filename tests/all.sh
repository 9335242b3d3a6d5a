#!/usr/bin/env bash
# Runs every test: the unit and black-box tests on this machine, then the black-box tests
# again with the static aarch64 binary under qemu. On a fresh Debian machine (as root) it
# installs what it needs: qemu-user, systemd-analyze, clang (for the cross build), the real
# peers of the client tests (samba, smbclient, rsync, bindfs), python3-venv (the Standard
# Webhooks and API tests' Python clients), openssl, groff, mandoc, zsh and fish (the manual
# page and the completion scripts), and headless Chromium with its driver (the web page's
# tests).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v clang >/dev/null 2>&1 || need+=(clang)
# Real peers for the client tests: a Samba server and client, rsync, a FUSE mount.
[ -x /usr/sbin/smbd ] || need+=(samba)
command -v smbclient >/dev/null 2>&1 || need+=(smbclient)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v bindfs >/dev/null 2>&1 || need+=(bindfs)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# The Standard Webhooks reference implementation (from PyPI) runs in a Python virtual
# environment; a private CA for the HTTPS receiver is made with openssl.
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# `sharehook manual` is checked with groff and mandoc, `sharehook completion` with zsh and fish
# (and bash).
command -v groff >/dev/null 2>&1 || need+=(groff-base)
command -v mandoc >/dev/null 2>&1 || need+=(mandoc)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
# The web page is tested in a real browser, driven by Selenium through chromedriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
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

echo "== unit and black-box tests, native"
cargo test --locked

echo "== static aarch64 build"
cross/build.sh aarch64-unknown-linux-musl

echo "== black-box tests, aarch64 binary under qemu-aarch64"
SHAREHOOK_BIN="$PWD/target/aarch64-unknown-linux-musl/release/sharehook" \
SHAREHOOK_RUNNER=qemu-aarch64 \
    cargo test --locked --test e2e

#!/usr/bin/env bash
# Builds a static, stripped sharehook for TARGET into target/TARGET/release/sharehook.
#
#   cross/build.sh aarch64-unknown-linux-musl
#   cross/build.sh x86_64-unknown-linux-musl
#
# Works on a fresh Debian machine with rustup: it adds the Rust target and installs clang
# (the only C compiler needed: ring's few C and assembly files are built by clang for any
# target, with no sysroot). Linking uses rust-lld and the musl C library that rustup ships
# with the target, so no C cross toolchain is needed.
set -euo pipefail

target=${1:-}
case "$target" in
    aarch64-unknown-linux-musl | x86_64-unknown-linux-musl) ;;
    *)
        echo "usage: cross/build.sh aarch64-unknown-linux-musl|x86_64-unknown-linux-musl" >&2
        exit 2
        ;;
esac

cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

if ! command -v clang >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
    else
        echo "cross/build.sh: clang is needed to build ring for $target: apt-get install clang" >&2
        exit 1
    fi
fi

host=$(rustc -vV | sed -n 's/^host: //p')
lld="$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld"
if [ ! -x "$lld" ]; then
    echo "cross/build.sh: rust-lld not found at $lld (it ships with rustup's toolchain)" >&2
    exit 1
fi

upper=$(echo "$target" | tr 'a-z-' 'A-Z_')
lower=$(echo "$target" | tr '-' '_')
export "CARGO_TARGET_${upper}_LINKER=$lld"
export "CARGO_TARGET_${upper}_RUSTFLAGS=-C linker-flavor=ld.lld -C target-feature=+crt-static"
export "CC_${lower}=clang"
export "AR_${lower}=llvm-ar"
command -v llvm-ar >/dev/null 2>&1 || export "AR_${lower}=ar"

cargo build --release --locked --target "$target"

bin="target/$target/release/sharehook"
size=$(stat -c %s "$bin")
echo "built $bin: $size bytes ($(awk "BEGIN { printf \"%.2f\", $size / 1048576 }") MiB, stripped)"

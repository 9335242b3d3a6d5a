#!/usr/bin/env bash
# Builds a static, stripped sharehook for TARGET into target/TARGET/release/sharehook.
#
#   cross/build.sh x86_64-unknown-linux-musl
#   cross/build.sh aarch64-unknown-linux-musl
#   cross/build.sh armv7-unknown-linux-musleabihf    (32-bit ARM, hardware floats)
#
# Works on a fresh Debian machine with rustup.
#
# x86_64 and aarch64: it adds the Rust target and installs clang (the only C compiler needed:
# ring's few C and assembly files are built by clang for any target, with no sysroot).
# Linking uses rust-lld and the musl C library that rustup ships with the target, so no C
# cross toolchain is needed.
#
# armv7: rustup's prebuilt standard library for armv7-unknown-linux-musleabihf may not be
# reachable (it is not from every mirror), so the standard library is built from rustup's
# rust-src, by the same stable compiler (RUSTC_BOOTSTRAP=1 allows cargo's -Zbuild-std on
# stable). The C side (musl, LLVM's libunwind, ring) comes from Zig's C compiler, which
# carries musl for 32-bit ARM: the pinned `ziglang` wheel from PyPI, in a virtual
# environment at target/zig-venv (python3-venv is installed when missing).
set -euo pipefail

ZIG_VERSION=0.17.1

target=${1:-}
case "$target" in
    aarch64-unknown-linux-musl | x86_64-unknown-linux-musl | armv7-unknown-linux-musleabihf) ;;
    *)
        echo "usage: cross/build.sh x86_64-unknown-linux-musl|aarch64-unknown-linux-musl|armv7-unknown-linux-musleabihf" >&2
        exit 2
        ;;
esac

cd "$(dirname "$0")/.."
root=$PWD

apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "cross/build.sh: $* needed for $target: apt-get install $*" >&2
        exit 1
    fi
}

upper=$(echo "$target" | tr 'a-z-' 'A-Z_')
lower=$(echo "$target" | tr '-' '_')

if [ "$target" = armv7-unknown-linux-musleabihf ]; then
    rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
    venv="$root/target/zig-venv"
    if [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" != "$ZIG_VERSION" ]; then
        python3 -c "import venv, ensurepip" >/dev/null 2>&1 || apt_install python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION"
    fi
    zig=$("$venv/bin/python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
    # Zig's cc for armv7-a with VFPv3-D16 and Thumb-2 (the Rust target's baseline), and
    # optimized: Zig builds musl and libunwind with the flags of the link it serves.
    wrap="$root/target/zig-wrap"
    mkdir -p "$wrap"
    for tool in cc c++; do
        cat >"$wrap/$tool" <<WRAP
#!/usr/bin/env bash
# Zig's $tool for $target (made by cross/build.sh). Drops the --target rustc's cc gives.
args=()
for a in "\$@"; do
    case "\$a" in
        --target=*) ;;
        *) args+=("\$a") ;;
    esac
done
exec "$zig" $tool -target arm-linux-musleabihf -mcpu=generic+v7a+vfp3d16+thumb2 -Os "\${args[@]}"
WRAP
        chmod 755 "$wrap/$tool"
    done
    export "CARGO_TARGET_${upper}_LINKER=$wrap/cc"
    export "CARGO_TARGET_${upper}_RUSTFLAGS=-C target-feature=+crt-static -C link-self-contained=no"
    export "CC_${lower}=$wrap/cc" "CXX_${lower}=$wrap/c++" "AR_${lower}=$zig ar"
    export RUSTC_BOOTSTRAP=1
    cargo build --release --locked --target "$target" \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=llvm-libunwind
else
    if ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target"
    fi
    command -v clang >/dev/null 2>&1 || apt_install clang
    host=$(rustc -vV | sed -n 's/^host: //p')
    lld="$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld"
    if [ ! -x "$lld" ]; then
        echo "cross/build.sh: rust-lld not found at $lld (it ships with rustup's toolchain)" >&2
        exit 1
    fi
    export "CARGO_TARGET_${upper}_LINKER=$lld"
    export "CARGO_TARGET_${upper}_RUSTFLAGS=-C linker-flavor=ld.lld -C target-feature=+crt-static"
    export "CC_${lower}=clang"
    export "AR_${lower}=llvm-ar"
    command -v llvm-ar >/dev/null 2>&1 || export "AR_${lower}=ar"
    cargo build --release --locked --target "$target"
fi

bin="target/$target/release/sharehook"
if head -c 8192 "$bin" | grep -aq "/lib/ld-"; then
    echo "cross/build.sh: $bin is not static" >&2
    exit 1
fi
size=$(stat -c %s "$bin")
echo "built $bin: $size bytes ($(awk "BEGIN { printf \"%.2f\", $size / 1048576 }") MiB, stripped)"

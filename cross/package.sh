#!/usr/bin/env bash
# Builds the packages of sharehook for each TARGET (default: all three) into target/dist/:
#
#   sharehook_VERSION_ARCH.deb          ARCH: amd64, arm64, armhf
#   sharehook-VERSION-TARGET.tar.gz     the same files and install.sh, for boxes without dpkg
#
#   cross/package.sh [TARGET...]
#
# Each binary is the static one cross/build.sh makes (built here when missing or older than
# the sources). The manual page and the completions are written by the x86_64 binary, which
# runs on this machine (they are the same for every architecture). SHAREHOOK_VERSION
# overrides the version (tests use it to make an upgrade). Needs dpkg-deb (Debian's dpkg).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
    targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)

version=${SHAREHOOK_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
command -v dpkg-deb >/dev/null 2>&1 || {
    echo "cross/package.sh: dpkg-deb is needed: apt-get install dpkg" >&2
    exit 1
}

built() {
    local bin="target/$1/release/sharehook"
    if [ ! -x "$bin" ] || [ -n "$(find src Cargo.toml Cargo.lock build.rs -newer "$bin" -print -quit)" ]; then
        cross/build.sh "$1" >&2
    fi
    echo "$root/$bin"
}

host=$(built x86_64-unknown-linux-musl)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
extras="$work/extras"
mkdir -p "$extras/completions"
"$host" manual >"$extras/sharehook.1"
"$host" completion bash >"$extras/completions/sharehook.bash"
"$host" completion zsh >"$extras/completions/_sharehook"
"$host" completion fish >"$extras/completions/sharehook.fish"

mkdir -p target/dist
for target in "${targets[@]}"; do
    case "$target" in
    x86_64-unknown-linux-musl) arch=amd64 ;;
    aarch64-unknown-linux-musl) arch=arm64 ;;
    armv7-unknown-linux-musleabihf) arch=armhf ;;
    *)
        echo "cross/package.sh: no package for $target" >&2
        exit 2
        ;;
    esac
    bin=$(built "$target")

    # The .deb: files where Debian puts them, the maintainer scripts, two conffiles.
    deb="$work/deb-$arch"
    install -D -m 0755 "$bin" "$deb/usr/bin/sharehook"
    install -D -m 0644 systemd/sharehook.service "$deb/usr/lib/systemd/system/sharehook.service"
    install -D -m 0644 systemd/sharehook.sysusers "$deb/usr/lib/sysusers.d/sharehook.conf"
    install -D -m 0644 systemd/60-sharehook-inotify.conf "$deb/usr/lib/sysctl.d/60-sharehook-inotify.conf"
    # Not a conffile: postinst copies it to /etc/sharehook/sharehook.toml where there is none,
    # so a later version's changes to the comments never stop an upgrade at dpkg's prompt.
    install -D -m 0644 systemd/sharehook.toml "$deb/usr/share/sharehook/sharehook.toml"
    install -D -m 0644 systemd/sharehook.logrotate "$deb/etc/logrotate.d/sharehook"
    install -D -m 0755 systemd/sharehook.init "$deb/etc/init.d/sharehook"
    install -D -m 0644 "$extras/sharehook.1" "$deb/usr/share/man/man1/sharehook.1"
    gzip -9n "$deb/usr/share/man/man1/sharehook.1"
    install -D -m 0644 "$extras/completions/sharehook.bash" "$deb/usr/share/bash-completion/completions/sharehook"
    install -D -m 0644 "$extras/completions/_sharehook" "$deb/usr/share/zsh/vendor-completions/_sharehook"
    install -D -m 0644 "$extras/completions/sharehook.fish" "$deb/usr/share/fish/vendor_completions.d/sharehook.fish"
    doc="$deb/usr/share/doc/sharehook"
    install -D -m 0644 README.md "$doc/README.md"
    gzip -9n "$doc/README.md"
    install -D -m 0644 systemd/sharehook-read-write.conf "$doc/examples/sharehook-read-write.conf"
    install -D -m 0644 systemd/sharehook.openrc "$doc/examples/sharehook.openrc"
    cat >"$doc/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sharehook

Files: *
License: MIT or Apache-2.0
COPY
    mkdir -p "$deb/DEBIAN"
    install -m 0755 cross/deb/postinst cross/deb/prerm cross/deb/postrm "$deb/DEBIAN/"
    printf '/etc/init.d/sharehook\n/etc/logrotate.d/sharehook\n' >"$deb/DEBIAN/conffiles"
    size=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
    cat >"$deb/DEBIAN/control" <<CONTROL
Package: sharehook
Version: $version
Architecture: $arch
Maintainer: sharehook <sharehook@localhost>
Installed-Size: $size
Section: net
Depends: passwd
Recommends: procps
Priority: optional
Description: file-activity webhooks for the shared folders of a NAS
 sharehook watches shared folders that people fill over Samba, NFS and SFTP,
 works out what each person did (Upload, Delete, Move, Rename, Create Folder)
 and posts signed, ExaVault-compatible webhooks, one at a time and in order per
 webhook, from a durable queue. One static binary; a systemd unit and a SysV
 init script. Nothing starts until /etc/sharehook/sharehook.toml names a share.
CONTROL
    out="target/dist/sharehook_${version}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$deb" "$out" >/dev/null

    # The tarball: the same files, flat, with install.sh.
    name="sharehook-$version-$target"
    tar_dir="$work/$name"
    mkdir -p "$tar_dir"
    install -m 0755 "$bin" cross/install.sh "$tar_dir/"
    install -m 0644 systemd/sharehook.service systemd/sharehook.sysusers \
        systemd/60-sharehook-inotify.conf systemd/sharehook.toml systemd/sharehook-read-write.conf \
        systemd/sharehook.logrotate \
        README.md "$extras/sharehook.1" "$tar_dir/"
    install -m 0755 systemd/sharehook.init systemd/sharehook.openrc "$tar_dir/"
    cp -r "$extras/completions" "$tar_dir/"
    tar -C "$work" --owner=0 --group=0 -czf "target/dist/$name.tar.gz" "$name"

    echo "$target: binary $(stat -c %s "$bin") bytes; $out $(stat -c %s "$out") bytes; target/dist/$name.tar.gz $(stat -c %s "target/dist/$name.tar.gz") bytes"
done

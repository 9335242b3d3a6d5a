#!/bin/sh
# Installs sharehook from this folder (the unpacked tarball) on a box without dpkg:
#
#   sudo ./install.sh              install, or upgrade in place
#   sudo ./install.sh --uninstall  remove the program; keep the configuration and the state
#   sudo ./install.sh --purge      remove the program, the configuration and the state
#
# The binary goes to $PREFIX/bin (PREFIX=/usr/local unless set), the manual and completions
# under $PREFIX/share. An existing /etc/sharehook/sharehook.toml and /var/lib/sharehook are
# never touched by an install or upgrade. Nothing is started: name a share first. A daemon
# that is running is restarted after an upgrade, so the new binary runs.
set -eu

PREFIX=${PREFIX:-/usr/local}
here=$(cd "$(dirname "$0")" && pwd)
bin=$PREFIX/bin/sharehook
config=/etc/sharehook/sharehook.toml

say() { echo "install.sh: $*"; }
fail() {
    echo "install.sh: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run it as root (it creates a system user and writes to /etc)"

systemd=no
[ -d /run/systemd/system ] && systemd=yes
openrc=no
command -v openrc-run >/dev/null 2>&1 && openrc=yes

stop_daemon() {
    if [ $systemd = yes ]; then
        systemctl disable --now sharehook.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/sharehook ]; then
        /etc/init.d/sharehook stop >/dev/null 2>&1 || true
        # No runlevel link may be left to a script that is gone.
        if [ $openrc = yes ]; then
            rc-update del sharehook >/dev/null 2>&1 || true
        elif command -v update-rc.d >/dev/null 2>&1; then
            update-rc.d -f sharehook remove >/dev/null 2>&1 || true
        fi
    fi
}

remove_program() {
    stop_daemon
    rm -f "$bin" /etc/systemd/system/sharehook.service /etc/init.d/sharehook \
        /etc/sysusers.d/sharehook.conf /etc/sysctl.d/60-sharehook-inotify.conf \
        "$PREFIX/share/man/man1/sharehook.1" \
        "$PREFIX/share/bash-completion/completions/sharehook" \
        "$PREFIX/share/zsh/site-functions/_sharehook" \
        "$PREFIX/share/fish/vendor_completions.d/sharehook.fish" \
        /etc/logrotate.d/sharehook
    [ $systemd = yes ] && systemctl daemon-reload || true
}

case "${1:-}" in
--uninstall)
    remove_program
    say "removed; kept $config and /var/lib/sharehook (--purge removes them)"
    exit 0
    ;;
--purge)
    remove_program
    rm -rf /etc/sharehook /var/lib/sharehook
    rm -f /var/log/sharehook.log /run/sharehook.pid
    say "removed, with the configuration and the state; the user sharehook stays"
    exit 0
    ;;
"") ;;
*) fail "usage: install.sh [--uninstall | --purge]" ;;
esac

"$here/sharehook" --version >/dev/null 2>&1 ||
    fail "$here/sharehook does not run here: is this the tarball for this machine's architecture ($(uname -m))?"

running=no
if [ $systemd = yes ]; then
    systemctl is-active --quiet sharehook.service && running=yes
elif [ -x /etc/init.d/sharehook ]; then
    /etc/init.d/sharehook status >/dev/null 2>&1 && running=yes
fi

# The user the daemon runs as.
# (`id`, not getent, which BusyBox firmware often lacks; a group of the name may exist
# already, made for the shares' ACLs.)
if ! id -u sharehook >/dev/null 2>&1; then
    group_there=no
    grep -q '^sharehook:' /etc/group 2>/dev/null && group_there=yes
    if command -v useradd >/dev/null 2>&1; then
        if [ $group_there = yes ]; then group="-g sharehook"; else group="--user-group"; fi
        # shellcheck disable=SC2086
        useradd --system $group --home-dir /var/lib/sharehook --no-create-home \
            --shell /sbin/nologin --comment "sharehook webhook daemon" sharehook
    elif command -v adduser >/dev/null 2>&1; then
        # BusyBox
        [ $group_there = yes ] || addgroup -S sharehook
        adduser -S -D -H -h /var/lib/sharehook -s /sbin/nologin -G sharehook sharehook
    else
        fail "neither useradd nor adduser is here to create the user sharehook"
    fi
fi

# The program: a new file, then renamed over the old, so a running daemon is never cut.
install -d "$PREFIX/bin"
install -m 0755 "$here/sharehook" "$bin.new"
mv -f "$bin.new" "$bin"
install -d "$PREFIX/share/man/man1" "$PREFIX/share/bash-completion/completions" \
    "$PREFIX/share/zsh/site-functions" "$PREFIX/share/fish/vendor_completions.d"
install -m 0644 "$here/sharehook.1" "$PREFIX/share/man/man1/sharehook.1"
install -m 0644 "$here/completions/sharehook.bash" "$PREFIX/share/bash-completion/completions/sharehook"
install -m 0644 "$here/completions/_sharehook" "$PREFIX/share/zsh/site-functions/_sharehook"
install -m 0644 "$here/completions/sharehook.fish" "$PREFIX/share/fish/vendor_completions.d/sharehook.fish"

# The configuration: the commented example, only where there is none.
[ -d /etc/sharehook ] || install -d -m 0755 /etc/sharehook
if [ ! -e "$config" ]; then
    install -m 0640 -g sharehook "$here/sharehook.toml" "$config"
    say "wrote $config (commented; name a share and a webhook in it)"
else
    say "kept $config"
fi
[ -d /var/lib/sharehook ] || install -d -o sharehook -g sharehook -m 0700 /var/lib/sharehook

# Limits, and how the box starts services.
install -d /etc/sysctl.d
install -m 0644 "$here/60-sharehook-inotify.conf" /etc/sysctl.d/60-sharehook-inotify.conf
if [ $systemd = no ] && [ -d /etc/logrotate.d ]; then
    install -m 0644 "$here/sharehook.logrotate" /etc/logrotate.d/sharehook
fi
sysctl -q -p /etc/sysctl.d/60-sharehook-inotify.conf 2>/dev/null ||
    say "could not apply /etc/sysctl.d/60-sharehook-inotify.conf now; it applies at the next boot"
if [ $systemd = yes ]; then
    install -d /etc/sysusers.d
    install -m 0644 "$here/sharehook.sysusers" /etc/sysusers.d/sharehook.conf
    sed "s#/usr/bin/sharehook#$bin#" "$here/sharehook.service" >/etc/systemd/system/sharehook.service
    chmod 0644 /etc/systemd/system/sharehook.service
    systemctl daemon-reload
    start="systemctl enable --now sharehook"
    [ $running = yes ] && systemctl restart sharehook.service
else
    if [ $openrc = yes ]; then
        script="$here/sharehook.openrc"
        start="rc-update add sharehook default && rc-service sharehook start"
    else
        script="$here/sharehook.init"
        start="/etc/init.d/sharehook start (and enable it in your init's runlevels)"
    fi
    sed "s#/usr/bin/sharehook#$bin#" "$script" >/etc/init.d/sharehook
    chmod 0755 /etc/init.d/sharehook
    [ $running = yes ] && /etc/init.d/sharehook restart
fi

if [ $running = yes ]; then
    say "upgraded; the daemon was restarted"
else
    say "installed $("$bin" --version); nothing is running. Next: edit $config, run
    sharehook check, then $start"
fi

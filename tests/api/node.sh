#!/usr/bin/env bash
# Installs ExaVault's JavaScript SDK for the API tests into target/api-node, pinned by
# tests/api/js/package.json and package-lock.json, when it is missing or was made from another
# lock, and prints its node_modules folder (the value for SHAREHOOK_NODE_MODULES). Needs node
# and npm (apt-get install nodejs npm) and the npm registry. Whatever it reports goes to
# standard error; standard output is the path alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
pinned="$root/tests/api/js"
dir="${SHAREHOOK_API_NODE:-$root/target/api-node}"
for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "node.sh: $tool is needed for the JavaScript SDK tests: apt-get install nodejs npm" >&2
        exit 1
    }
done
want="$(cat "$pinned/package.json" "$pinned/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$dir/lock.sha256"
if [ ! -d "$dir/node_modules/@exavault/exavault-api" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "node.sh: installing the pinned JavaScript SDK in $dir" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$pinned/package.json" "$pinned/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
    # Checked before the stamp is written, so a half-made folder is made again.
    (cd "$dir" && node -e "require('@exavault/exavault-api')") >&2
    echo "$want" >"$stamp"
fi
echo "$dir/node_modules"

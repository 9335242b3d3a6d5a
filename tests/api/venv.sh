#!/usr/bin/env bash
# Makes the Python virtual environment of the API and page tests, target/api-venv, when it is
# missing or was made from another tests/api/requirements.txt, and prints its python's path
# (the value for SHAREHOOK_PYTHON). Needs python3 with venv (apt-get install python3-venv) and
# PyPI. Whatever it reports goes to standard error; standard output is the path alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
requirements="$root/tests/api/requirements.txt"
venv="${SHAREHOOK_API_VENV:-$root/target/api-venv}"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp="$venv/requirements.sha256"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "venv.sh: making $venv from $requirements" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    # Checked before the stamp is written, so a half-made environment is made again.
    "$venv/bin/python" -c "import exavault, schemathesis, selenium, standardwebhooks, nats, paho.mqtt.client" >&2
    echo "$want" >"$stamp"
fi
echo "$venv/bin/python"

#!/usr/bin/env bash
# Checks that the official OpenAI Python client, unmodified, works against
# the gateway example: builds the gateway, starts it with --local (fake
# providers on 127.0.0.1) on a free port, runs openai_client.py against it,
# stops it, and exits with the script's code.
#
#   bash examples/gateway/check-openai-client.sh
#
# Needs python3 (with venv) and PyPI for `pip install openai` the first time;
# the venv is kept under target/ and reused. The client is pinned to one
# major version (`spec` below): a new major may change what is checked.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
config="${GATEWAY_CONFIG:-examples/gateway.toml}"
venv="$target/openai-venv"
spec="openai>=3,<4"

# Installed, and of the pinned major version? Else (re)install it.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import openai, sys; sys.exit(openai.__version__.split(".")[0] != "3")' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec"
fi
echo "openai $("$venv/bin/python" -c 'import openai; print(openai.__version__)')"

cargo build --quiet --example gateway --all-features
gateway="$target/debug/examples/gateway"

# A free port: bind port 0 and let it go.
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$target/gateway-check.log"
"$gateway" --local --config "$config" --listen "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

healthy=0
for _ in $(seq 1 100); do
    if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1).read()
PY
        healthy=1
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "the gateway exited:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ "$healthy" -ne 1 ]; then
    echo "the gateway did not answer /health on port $port within 10 s:" >&2
    cat "$log" >&2
    exit 1
fi

status=0
"$venv/bin/python" examples/gateway/openai_client.py "http://127.0.0.1:$port/v1" || status=$?
if [ "$status" -ne 0 ]; then
    echo "gateway log:" >&2
    cat "$log" >&2
fi
exit "$status"

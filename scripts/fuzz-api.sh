#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document: starts `berth demo` (debug build) on a
# free port with a state directory of its own, signs in as the demo admin, makes an API token
# with every scope, and runs Schemathesis (scripts/setup.sh installs it from PyPI) with every
# check but one (see scripts/schemathesis.toml) over every operation but the live event
# streams (which never end; tests/api/live_events.rs covers them). Passes with 0 failures.
# FUZZ_EXAMPLES (default 25) bounds the cases per operation; further arguments go to Schemathesis
# (e.g. `--seed 7`).
set -uo pipefail
cd "$(dirname "$0")/.."

st=${BERTH_SCHEMATHESIS_DIR:-$HOME/.cache/berth/schemathesis-4.32.5}/venv/bin/st
if [ ! -x "$st" ]; then
  echo "Schemathesis is not installed: run scripts/setup.sh" >&2
  exit 1
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
state=target/fuzz/state-$port
rm -rf "$state" && mkdir -p "$state"
kube_bin=$(scripts/kube.sh | tail -1)

# Its own process group, so the stop below reaches Postgres and the control plane too.
PATH="$kube_bin:$PATH" setsid target/debug/berth demo --port "$port" --state-dir "$state" --config scripts/fuzz-demo.toml \
  >"$state/demo.log" 2>&1 &
demo=$!
stop() {
  kill -INT -- "-$demo" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$demo" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL -- "-$demo" 2>/dev/null
}
trap stop EXIT

for _ in $(seq 1 600); do
  curl -sf -o /dev/null "$base/readyz" && break
  kill -0 "$demo" 2>/dev/null || { echo "berth demo stopped:" >&2; tail -20 "$state/demo.log" >&2; exit 1; }
  sleep 1
done

cookie=$(curl -s -D - -o /dev/null -H "Origin: $base" -d persona=demo:ada "$base/auth/demo" \
  | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
token=$(curl -s -H "Origin: $base" -H "Cookie: $cookie" -H 'Content-Type: application/json' \
  -d '{"name":"schemathesis","expires_in_days":1,"scopes":["namespaces","access","admin"]}' \
  "$base/api/v1/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
if [ -z "$token" ]; then
  echo "could not make an API token on the demo" >&2
  exit 1
fi

"$st" --config-file scripts/schemathesis.toml run \
  "$base/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples "${FUZZ_EXAMPLES:-25}" \
  --exclude-path-regex '^/api/v1/events/' \
  --no-shrink \
  --output-truncate false \
  "$@"

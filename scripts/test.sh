#!/usr/bin/env bash
# Everything `make test` checks, in order: formatting, lints (server and browser builds), the
# Rust tests of the workspace, then the browser tests against `berth demo`. Every step runs even
# when an earlier one fails, so one run shows all problems; the last line sums up.
set -uo pipefail
cd "$(dirname "$0")/.."

# A fresh clone gains nothing from incremental caches, and they cost CI several GB of disk.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed_steps=()

step() {
  local name=$1; shift
  printf '\n==> %s\n' "$name"
  if ! "$@" 2>&1 | tee -a "$log"; then
    failed_steps+=("$name")
  fi
}

step "cargo fmt --check" cargo fmt --all --check
step "clippy (server)" cargo clippy --workspace --all-targets -- -D warnings
step "clippy (browser)" cargo clippy -p app --target wasm32-unknown-unknown --features hydrate -- -D warnings
step "build the tests" cargo test --workspace --no-run
# Tests that hang must fail the run, not outlast CI: the runs themselves take a few minutes, so
# the bounds are generous. `timeout` signals its whole process group (servers included).
step "cargo test" timeout -k 30s 30m cargo test --workspace --no-fail-fast
step "build the site" scripts/site.sh
step "build berth" cargo build -p server --bin berth
# The browser tests drive kubectl against the demo's real control plane: kubectl 1.37, as users
# run it (scripts/kube.sh installs it beside the control plane).
kube_bin=$(scripts/kube.sh | tail -1)
# Schemathesis against `berth demo`, from the REST API's own OpenAPI document: 0 failures.
step "fuzz the REST API" timeout -k 30s 15m scripts/fuzz-api.sh
step "browser tests" timeout -k 30s 30m env PATH="$kube_bin:$PATH" bash -c 'cd end2end && npx playwright test'

# Sum the runners' own counts: cargo's "test result:" lines and Playwright's "N passed/failed".
passed=$(grep -Eo '(ok|FAILED)\. [0-9]+ passed' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo '; [0-9]+ failed' "$log" | awk '{s+=$2} END {print s+0}')
pw_passed=$(grep -E '^\s+[0-9]+ passed \(' "$log" | awk '{s+=$1} END {print s+0}')
pw_failed=$(grep -E '^\s+[0-9]+ failed$' "$log" | awk '{s+=$1} END {print s+0}')
passed=$((passed + pw_passed))
failed=$((failed + pw_failed))

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]}"
  # A step that failed before its tests ran (fmt, clippy, a build) counts as a failure too.
  [ "$failed" -eq 0 ] && failed=${#failed_steps[@]}
  echo "summary: $passed passed, $failed failed"
  exit 1
fi
echo "summary: $passed passed, $failed failed"

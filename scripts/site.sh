#!/usr/bin/env bash
# Builds the browser side of the site into target/site/pkg: the app compiled to WebAssembly
# with `hydrate`, its JavaScript glue from wasm-bindgen, and the stylesheet.
# `PROFILE=release` builds a size-optimised bundle and runs wasm-opt when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-dev}
out=target/site/pkg
mkdir -p "$out"

if [ "$profile" = release ]; then
  cargo rustc -p app --lib --target wasm32-unknown-unknown --features hydrate \
    --crate-type cdylib --profile wasm-release
  wasm=target/wasm32-unknown-unknown/wasm-release/app.wasm
else
  cargo rustc -p app --lib --target wasm32-unknown-unknown --features hydrate --crate-type cdylib
  wasm=target/wasm32-unknown-unknown/debug/app.wasm
fi

wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name berth "$wasm"
if [ "$profile" = release ] && command -v wasm-opt >/dev/null; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    -o "$out/berth_bg.wasm" "$out/berth_bg.wasm"
fi
cp style/berth.css "$out/berth.css"
echo "site built in $out ($(du -h "$out/berth_bg.wasm" | cut -f1) of WebAssembly)"

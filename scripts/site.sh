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
# binaryen before 116 (Debian 12 has 108) writes wasm-bindgen's externref table export as the
# function table, and the page fails to hydrate ("WebAssembly.Table.set(): Argument 1 is
# invalid"). -Oz saves under 1 % once the name section is stripped, so older ones are skipped.
if [ "$profile" = release ] && command -v wasm-opt >/dev/null; then
  binaryen=$(wasm-opt --version | grep -o '[0-9]\+' | head -1)
  if [ "${binaryen:-0}" -ge 116 ]; then
    wasm-opt -Oz --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
      -o "$out/berth_bg.wasm" "$out/berth_bg.wasm"
  else
    echo "wasm-opt $binaryen is older than 116 (it breaks wasm-bindgen's externref table): not used"
  fi
fi
cp style/berth.css "$out/berth.css"
echo "site built in $out ($(du -h "$out/berth_bg.wasm" | cut -f1) of WebAssembly)"

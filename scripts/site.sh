#!/usr/bin/env bash
# Builds the browser side of the site into target/site/pkg: the app compiled to WebAssembly
# with `hydrate`, split into a main module and one chunk per route (tools/split-wasm), its
# JavaScript glue from wasm-bindgen, and the stylesheet.
# `PROFILE=release` builds a size-optimised bundle, runs wasm-opt when a recent one is
# installed, and writes gzip and Brotli copies beside each file for the server to send.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-dev}
out=target/site/pkg
mkdir -p "$out"
# Chunks' names change between builds, and a compressed copy left from an earlier build
# would be served in place of the new file: start from an empty directory.
find "$out" -mindepth 1 -delete

if [ "$profile" = release ]; then
  cargo rustc -p app --lib --target wasm32-unknown-unknown --features hydrate \
    --crate-type cdylib --profile wasm-release
  wasm=target/wasm32-unknown-unknown/wasm-release/app.wasm
else
  cargo rustc -p app --lib --target wasm32-unknown-unknown --features hydrate --crate-type cdylib
  wasm=target/wasm32-unknown-unknown/debug/app.wasm
fi

cargo run -q -p split-wasm --release -- "$wasm" "$out" berth
wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
  --out-dir "$out" --out-name berth "$out/berth_split.wasm"
rm "$out/berth_split.wasm"
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

if [ "$profile" = release ]; then
  # The server sends these as they are when the browser accepts them (leptos_axum's ServeDir
  # with precompressed gzip and Brotli), at the best ratio, compressed once here.
  for f in "$out"/*.wasm "$out"/*.js "$out"/*.css; do
    gzip -k -9 -n "$f"
    brotli -k -q 11 "$f"
  done
fi
chunks=$(find "$out" -name '*.wasm' ! -name berth_bg.wasm | wc -l)
echo "site built in $out ($(du -h "$out/berth_bg.wasm" | cut -f1) of WebAssembly in the main module, $chunks chunks)"

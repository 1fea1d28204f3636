//! One file per route: the splitter leaves a route's code in its own chunk plus 50–130 chunks
//! it shares with other routes, and a first visit fetched each of them (108–187 requests a
//! page). Here every route's chunks are packed into one file, `pack<route>.wasm`, the manifest
//! names only that file (so the server preloads one file), and the loader reads each chunk's
//! bytes out of the pack instead of fetching it. A chunk an earlier page already loaded is
//! not loaded again (its bytes in a later pack are skipped): later pages cost one request and
//! some bytes twice; the individual chunk files stay beside them as a fallback.
//!
//! A pack is `u32` (little endian) header length, the header as JSON (`[[file, length], …]`),
//! then the files' bytes in that order.

use std::collections::BTreeMap;
use std::path::Path;

/// The route key's pack file, without `.wasm`.
fn pack_name(route: &str) -> String {
    format!("pack{route}")
}

/// Writes a pack per route, and the manifest naming them; the routes' file lists (for the
/// loader) by route.
pub fn write_packs(
    pkg: &Path,
    routes: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut manifest = BTreeMap::new();
    for (route, modules) in routes {
        let mut header = Vec::new();
        let mut body = Vec::new();
        for module in modules {
            let file = format!("{module}.wasm");
            let path = pkg.join(&file);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            header.push((file, bytes.len()));
            body.extend_from_slice(&bytes);
        }
        let header = serde_json::to_vec(&header).map_err(|e| format!("pack header: {e}"))?;
        let length = u32::try_from(header.len()).map_err(|_| "pack header too long".to_owned())?;
        let mut pack = length.to_le_bytes().to_vec();
        pack.extend_from_slice(&header);
        pack.extend_from_slice(&body);
        let name = pack_name(route);
        let path = pkg.join(format!("{name}.wasm"));
        std::fs::write(&path, pack).map_err(|e| format!("writing {}: {e}", path.display()))?;
        manifest.insert(route.clone(), vec![name]);
    }
    Ok(manifest)
}

/// Reads packs in the browser; prepended to the splitter's loader.
const RUNTIME: &str = r#"
// Packs (tools/split-wasm/src/pack.rs): each route's chunks in one file.
const __bytes = new Map();
const __done = Promise.resolve(null);
function __unpack(buffer) {
    const view = new DataView(buffer);
    const length = view.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
    const files = new Map();
    let offset = 4 + length;
    for (const [file, size] of header) {
        files.set(file, new Uint8Array(buffer, offset, size));
        offset += size;
    }
    return files;
}
function __requestPack(route) {
    const files = (__packs[route] || []).filter(f => !__bytes.has(f));
    if (files.length === 0) return;
    const pack = fetch(new URL(`./pack${route}.wasm`, import.meta.url))
        .then(r => { if (!r.ok) throw new Error(`pack${route}.wasm: ${r.status}`); return r.arrayBuffer(); })
        .then(__unpack);
    for (const file of files) {
        __bytes.set(file, pack.then(m => {
            const bytes = m.get(file);
            if (!bytes) throw new Error(`${file} is not in pack${route}.wasm`);
            return bytes;
        }));
    }
    // A failed pack is forgotten, so the next attempt fetches it again.
    pack.catch(() => { for (const file of files) __bytes.delete(file); });
}
function __fetchBytes(file) {
    let bytes = __bytes.get(file);
    if (bytes === undefined || bytes === __done) {
        bytes = fetch(new URL(`./${file}`, import.meta.url)).then(r => r.arrayBuffer());
        __bytes.set(file, bytes);
        bytes.catch(() => __bytes.delete(file));
    }
    // Loaded once (the loader memoises instances): the bytes are not kept.
    bytes.then(() => __bytes.set(file, __done), () => {});
    return bytes;
}
function __withPack(route, load) {
    return () => { __requestPack(route); return load(); };
}
"#;

/// The splitter's loader, reading chunks from packs. Fails when the loader's shape is not the
/// one this was written against (a new splitter version), rather than loading chunk by chunk.
pub fn rewrite_loader(js: &str, routes: &BTreeMap<String, Vec<String>>) -> Result<String, String> {
    let files: BTreeMap<&String, Vec<String>> = routes
        .iter()
        .map(|(route, modules)| (route, modules.iter().map(|m| format!("{m}.wasm")).collect()))
        .collect();
    let table = serde_json::to_string(&files).map_err(|e| format!("pack table: {e}"))?;
    let fetches = js.matches("fetch(new URL(\"./").count();
    let streaming = js
        .matches("WebAssembly.instantiateStreaming(src, imports)")
        .count();
    if fetches == 0 || fetches != streaming {
        return Err(format!(
            "the loader has {fetches} chunk fetches and {streaming} streaming instantiations: not the shape pack.rs knows"
        ));
    }
    let mut out = js
        .replace("fetch(new URL(\"./", "__fetchBytes((\"")
        .replace("\", import.meta.url))", "\"))")
        .replace(
            "WebAssembly.instantiateStreaming(src, imports)",
            "WebAssembly.instantiate(await src, imports)",
        );
    for route in routes.keys() {
        let export = format!("export const __wasm_split_load_{route} = wrapAsyncCb(makeLoad(");
        let start = out
            .find(&export)
            .ok_or_else(|| format!("the loader has no export for route {route}"))?;
        let end = out[start..]
            .find("]));")
            .map(|i| start + i)
            .ok_or_else(|| format!("the export for route {route} does not end as expected"))?;
        let replaced = format!(
            "export const __wasm_split_load_{route} = wrapAsyncCb(__withPack(\"{route}\", makeLoad({}])));",
            &out[start + export.len()..end]
        );
        out.replace_range(start..end + "]));".len(), &replaced);
    }
    // After the imports (the first line), before the first use.
    let (first, rest) = out.split_once('\n').unwrap_or((&out, ""));
    Ok(format!("{first}\nconst __packs = {table};{RUNTIME}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOADER: &str = r#"import { initSync } from "./berth.js";
const __chunk_1 = makeLoad(() => {
    const src = fetch(new URL("./chunk_1.wasm", import.meta.url));
    src.catch(() => {});
    return async (imports) => debugWrap(WebAssembly.instantiateStreaming(src, imports));
}
, []);
export const __wasm_split_load___a_view_1 = wrapAsyncCb(makeLoad(() => {
    const src = fetch(new URL("./split___a_view_1.wasm", import.meta.url));
    src.catch(() => {});
    return async (imports) => debugWrap(WebAssembly.instantiateStreaming(src, imports));
}
, [__chunk_1]));
"#;

    fn routes() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "__a_view_1".to_owned(),
            vec!["chunk_1".to_owned(), "split___a_view_1".to_owned()],
        )])
    }

    #[test]
    fn the_loader_reads_chunks_from_the_route_pack() {
        let js = rewrite_loader(LOADER, &routes()).expect("rewritten");
        assert!(js.starts_with("import { initSync } from \"./berth.js\";\nconst __packs = "));
        assert!(js.contains(r#"{"__a_view_1":["chunk_1.wasm","split___a_view_1.wasm"]}"#));
        assert!(!js.contains("fetch(new URL(\"./chunk_1"), "{js}");
        assert!(js.contains("__fetchBytes((\"chunk_1.wasm\"))"), "{js}");
        assert!(js.contains("WebAssembly.instantiate(await src, imports)"));
        assert!(js.contains(
            "export const __wasm_split_load___a_view_1 = wrapAsyncCb(__withPack(\"__a_view_1\", makeLoad(() => {"
        ));
        assert!(js.contains(", [__chunk_1])));"), "{js}");
    }

    #[test]
    fn a_loader_of_another_shape_is_refused() {
        assert!(rewrite_loader("export const x = 1;", &routes()).is_err());
        let no_export = LOADER.replace("__wasm_split_load___a_view_1", "__other");
        assert!(rewrite_loader(&no_export, &routes()).is_err());
    }

    #[test]
    fn a_pack_holds_its_files_after_a_header() {
        let dir = std::env::temp_dir().join(format!("split-wasm-pack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("chunk_1.wasm"), b"one").expect("write");
        std::fs::write(dir.join("split___a_view_1.wasm"), b"second").expect("write");
        let manifest = write_packs(&dir, &routes()).expect("packed");
        assert_eq!(manifest["__a_view_1"], vec!["pack__a_view_1".to_owned()]);
        let pack = std::fs::read(dir.join("pack__a_view_1.wasm")).expect("pack");
        let length = u32::from_le_bytes([pack[0], pack[1], pack[2], pack[3]]) as usize;
        let header: Vec<(String, usize)> =
            serde_json::from_slice(&pack[4..4 + length]).expect("header");
        assert_eq!(
            header,
            vec![
                ("chunk_1.wasm".to_owned(), 3),
                ("split___a_view_1.wasm".to_owned(), 6)
            ]
        );
        assert_eq!(&pack[4 + length..], b"onesecond");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! `split-wasm <input.wasm> <pkg dir> <output name>`: the step cargo-leptos calls `--split`,
//! without cargo-leptos (which downloads its tools at run time).
//!
//! Reads the app's WebAssembly as linked (with `--emit-relocs`), moves every `#[lazy]`
//! function and what only it reaches into its own chunk, and writes:
//! - `<pkg>/<name>_split.wasm`: the main module, for wasm-bindgen (`--keep-lld-exports`);
//! - `<pkg>/*.wasm` chunks and `__wasm_split.______________________.js`, which loads them;
//! - `<pkg>/__wasm_split_manifest.json`, from which the server preloads a route's chunks.
//!
//! Each chunk is then slimmed (`slim`): only the types it uses, no custom sections.
//!
//! The placeholder file name is the one Leptos' `HydrationScripts` looks for when files are
//! not hashed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod pack;
mod slim;

const LINK_NAME: &str = "./__wasm_split.______________________.js";
const MANIFEST: &str = "__wasm_split_manifest.json";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, pkg, name] = args.as_slice() else {
        eprintln!("usage: split-wasm <input.wasm> <pkg dir> <output name>");
        return ExitCode::from(2);
    };
    match split(Path::new(input), Path::new(pkg), name) {
        Ok((chunks, saved)) => {
            println!(
                "split {input} into a main module and {chunks} chunks ({saved} bytes of unused types and names left out of them), packed one file per route"
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("split-wasm: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Splits `input` into `pkg`; the number of chunks written and the bytes slimming saved.
fn split(input: &Path, pkg: &Path, name: &str) -> Result<(usize, usize), String> {
    let wasm = std::fs::read(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    std::fs::create_dir_all(pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;
    let main_out: PathBuf = pkg.join(format!("{name}_split.wasm"));
    // The chunks' loader imports the main module's exports from wasm-bindgen's JS glue.
    let main_module = format!("./{name}.js");
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = pkg;
    options.main_out_path = &main_out;
    options.main_module = &main_module;
    options.link_name = LINK_NAME;
    let split = wasm_split_cli_support::transform(options)
        .map_err(|e| format!("splitting {}: {e:#}", input.display()))?;
    let mut saved = 0;
    for chunk in &split.split_modules {
        saved += slim_file(chunk)?;
    }
    let routes: BTreeMap<String, Vec<String>> = split
        .prefetch_map
        .iter()
        .map(|(route, modules)| (route.clone(), modules.clone()))
        .collect();
    let packs = pack::write_packs(pkg, &routes)?;
    let manifest =
        serde_json::to_string_pretty(&packs).map_err(|e| format!("writing the manifest: {e}"))?;
    let manifest_path = pkg.join(MANIFEST);
    std::fs::write(&manifest_path, manifest)
        .map_err(|e| format!("writing {}: {e}", manifest_path.display()))?;
    let loader_path = pkg.join(LINK_NAME.trim_start_matches("./"));
    let loader = std::fs::read_to_string(&loader_path)
        .map_err(|e| format!("reading {}: {e}", loader_path.display()))?;
    std::fs::write(&loader_path, pack::rewrite_loader(&loader, &routes)?)
        .map_err(|e| format!("writing {}: {e}", loader_path.display()))?;
    Ok((split.split_modules.len(), saved))
}

/// Rewrites one chunk in place, slimmed; the bytes saved.
fn slim_file(path: &Path) -> Result<usize, String> {
    let before = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let Some(after) = slim::slim(&before).map_err(|e| format!("{}: {e}", path.display()))? else {
        return Ok(0);
    };
    std::fs::write(path, &after).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(before.len().saturating_sub(after.len()))
}

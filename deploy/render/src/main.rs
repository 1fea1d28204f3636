//! `render-manifests [TAG]`: writes deploy/manifests/berth.yaml from the chart, the image
//! tagged TAG (default `<workspace version>-<git sha of HEAD>`).

use std::process::ExitCode;

fn head_sha() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() -> ExitCode {
    let tag = match std::env::args().nth(1) {
        Some(tag) => tag,
        None => match head_sha() {
            Some(sha) => deploy::image_tag(env!("CARGO_PKG_VERSION"), &sha),
            None => {
                eprintln!(
                    "no git HEAD to tag the image with; pass a tag: render-manifests 0.1.0-<sha>"
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let documents = match deploy::render(
        &deploy::chart_dir(),
        &deploy::Release::default(),
        &deploy::tag_values(&tag),
    ) {
        Ok(d) => d,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let path = deploy::manifests_file();
    if let Err(err) = std::fs::write(&path, deploy::to_file(&documents)) {
        eprintln!("cannot write {}: {err}", path.display());
        return ExitCode::FAILURE;
    }
    println!(
        "{} documents, image tag {tag}, written to {}",
        documents.len(),
        path.display()
    );
    ExitCode::SUCCESS
}

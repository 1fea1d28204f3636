//! Helm v4 (built by `scripts/kube.sh` beside the control plane) over the chart in
//! deploy/helm/berth, and the committed rendering in deploy/manifests/.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/helm/berth")
}

pub fn manifests_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/manifests/berth.yaml")
}

/// The line `make manifests` puts above `helm template`'s output.
pub const MANIFESTS_HEADER: &str =
    "# Rendered by `helm template` from deploy/helm/berth; `make manifests` writes it again.\n";

pub fn helm() -> Command {
    Command::new(sandbox::control_plane::default_bin_dir().join("helm"))
}

pub fn kubectl() -> Command {
    Command::new(sandbox::control_plane::default_bin_dir().join("kubectl"))
}

/// The image tag the committed manifests were rendered with, so a check renders them alike.
pub fn committed_tag() -> String {
    const LABEL: &str = "app.kubernetes.io/version: \"";
    let text = std::fs::read_to_string(manifests_file()).expect("deploy/manifests/berth.yaml");
    let start = text.find(LABEL).expect("a version label") + LABEL.len();
    text[start..]
        .split('"')
        .next()
        .expect("a quoted tag")
        .to_owned()
}

/// `helm <args> --set k=v …`: stdout when it succeeds, stderr when it does not.
pub fn run(args: &[&str], sets: &[(&str, &str)]) -> Result<String, String> {
    let mut command = helm();
    command.args(args);
    for (key, value) in sets {
        command.arg("--set").arg(format!("{key}={value}"));
    }
    let out = command
        .output()
        .expect("run helm (built by scripts/kube.sh)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `helm template` of the chart as release `berth` in namespace `berth`.
pub fn template(sets: &[(&str, &str)]) -> Result<String, String> {
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    run(&["template", "berth", chart, "--namespace", "berth"], sets)
}

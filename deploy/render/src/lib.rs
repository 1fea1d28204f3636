//! The Helm chart under `deploy/helm/berth`, rendered as `helm template` renders it: Go
//! templates over `.Values` (values.yaml merged with overrides), `.Release` and `.Chart`,
//! with the few Sprig functions the chart uses (`quote`, `default`, `required`). Helm is not
//! packaged for this machine; the chart sticks to what both engines read alike, and the plain
//! manifests in `deploy/manifests/` come from here.

use std::path::{Path, PathBuf};

use gtmpl_ng::{Context, Func, FuncError, Template, Value};
use serde_json::Value as Json;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not valid YAML: {reason}")]
    Yaml { path: PathBuf, reason: String },
    #[error("template {name}: {reason}")]
    Template { name: String, reason: String },
}

/// Where the chart and the rendered manifests live, from this crate's directory.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/berth")
}

pub fn manifests_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/berth.yaml")
}

/// The release the plain manifests are rendered for.
#[derive(Clone, Debug)]
pub struct Release {
    pub name: String,
    pub namespace: String,
}

impl Default for Release {
    fn default() -> Self {
        Release {
            name: "berth".to_owned(),
            namespace: "berth".to_owned(),
        }
    }
}

/// One rendered document and the template it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub source: String,
    pub text: String,
}

fn read(path: &Path) -> Result<String, RenderError> {
    std::fs::read_to_string(path).map_err(|e| RenderError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn yaml(path: &Path) -> Result<Json, RenderError> {
    serde_yaml::from_str(&read(path)?).map_err(|e| RenderError::Yaml {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// `overrides` merged into `base`, maps key by key (what `--set` / `-f` do).
pub fn merge(base: &mut Json, overrides: &Json) {
    match (base, overrides) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Json::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) => Value::from(f),
            _ => Value::Nil,
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        Json::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

fn empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Function(_) => false,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => other.to_string(),
    }
}

/// Sprig's `quote`: each argument as a Go double-quoted string.
fn quote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = args
        .iter()
        .filter(|v| !matches!(v, Value::NoValue | Value::Nil))
        .map(|v| format!("{:?}", text(v)))
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

/// Sprig's `default DEFAULT GIVEN`: GIVEN unless it is empty.
fn default(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [fallback] => Ok(fallback.clone()),
        [fallback, given] if empty(given) => Ok(fallback.clone()),
        [_, given] => Ok(given.clone()),
        _ => Err(FuncError::AtLeastXArgs("default".to_owned(), 1)),
    }
}

/// Helm's `required MESSAGE VALUE`: VALUE, or the render fails with MESSAGE.
fn required(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [message, value] if empty(value) => Err(FuncError::Generic(text(message))),
        [_, value] => Ok(value.clone()),
        _ => Err(FuncError::ExactlyXArgs("required".to_owned(), 2)),
    }
}

/// Sprig's `fail MESSAGE`: the render stops with MESSAGE.
fn fail(args: &[Value]) -> Result<Value, FuncError> {
    Err(FuncError::Generic(
        args.iter().map(text).collect::<Vec<_>>().join(" "),
    ))
}

const FUNCS: [(&str, Func); 4] = [
    ("quote", quote as Func),
    ("default", default as Func),
    ("required", required as Func),
    ("fail", fail as Func),
];

/// Renders every template of the chart at `chart` with its values merged with `overrides`.
pub fn render(
    chart: &Path,
    release: &Release,
    overrides: &Json,
) -> Result<Vec<Document>, RenderError> {
    let meta = yaml(&chart.join("Chart.yaml"))?;
    let mut values = yaml(&chart.join("values.yaml"))?;
    if !overrides.is_null() {
        merge(&mut values, overrides);
    }
    let field = |k: &str| meta.get(k).cloned().unwrap_or(Json::Null);
    let context = serde_json::json!({
        "Values": values,
        "Release": { "Name": release.name, "Namespace": release.namespace, "Service": "Helm" },
        "Chart": { "Name": field("name"), "Version": field("version"), "AppVersion": field("appVersion") },
    });
    let context = Context::from(to_value(&context));

    let dir = chart.join("templates");
    let helpers = read(&dir.join("_helpers.tpl"))?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| RenderError::Read {
            path: dir.clone(),
            reason: e.to_string(),
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();

    let mut out = Vec::new();
    for name in names {
        let fail = |reason: String| RenderError::Template {
            name: name.clone(),
            reason,
        };
        let mut template = Template::with_name(name.as_str());
        template.add_funcs(&FUNCS);
        template
            .add_template("_helpers.tpl", helpers.as_str())
            .map_err(|e| fail(e.to_string()))?;
        template
            .parse(read(&dir.join(&name))?)
            .map_err(|e| fail(e.to_string()))?;
        let rendered = template.render(&context).map_err(|e| fail(e.to_string()))?;
        for part in rendered.split("\n---") {
            let meaningful = part
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
            if meaningful {
                out.push(Document {
                    source: format!("{}/templates/{name}", text(&to_value(&field("name")))),
                    text: part.trim_matches('\n').to_owned() + "\n",
                });
            }
        }
    }
    Ok(out)
}

/// The documents as one multi-document file, each headed by its source as Helm writes it.
pub fn to_file(documents: &[Document]) -> String {
    let mut out = String::from(
        "# Rendered from deploy/helm/berth with its values.yaml; `make manifests` writes it again.\n",
    );
    for d in documents {
        out.push_str("---\n");
        out.push_str(&format!("# Source: {}\n", d.source));
        out.push_str(&d.text);
    }
    out
}

/// The image tag a build of this workspace carries: `<version>-<short git sha>`.
pub fn image_tag(version: &str, sha: &str) -> String {
    format!("{version}-{}", &sha[..sha.len().min(12)])
}

/// The tag the committed manifests were rendered with, so a check renders them the same way.
pub fn tag_in(file: &str) -> Option<String> {
    const LABEL: &str = "app.kubernetes.io/version: \"";
    let start = file.find(LABEL)? + LABEL.len();
    file[start..].split('"').next().map(str::to_owned)
}

/// Values that only set the image tag.
pub fn tag_values(tag: &str) -> Json {
    serde_json::json!({ "image": { "tag": tag } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overrides_key_by_key() {
        let mut base = serde_json::json!({"image": {"repository": "r", "tag": ""}, "replicas": 2});
        merge(
            &mut base,
            &serde_json::json!({"image": {"tag": "1.0.0-abc"}}),
        );
        assert_eq!(
            base,
            serde_json::json!({"image": {"repository": "r", "tag": "1.0.0-abc"}, "replicas": 2})
        );
    }

    #[test]
    fn sprig_functions_behave_as_helms() {
        let ok = |f: Func, args: &[Value]| text(&f(args).expect("function"));
        assert_eq!(ok(quote, &[Value::from("a\"b")]), "\"a\\\"b\"");
        assert_eq!(ok(default, &[Value::from("x"), Value::from("")]), "x");
        assert_eq!(ok(default, &[Value::from("x"), Value::from("y")]), "y");
        assert!(required(&[Value::from("needed"), Value::from("")]).is_err());
        assert!(fail(&[Value::from("no")]).is_err());
        assert_eq!(
            ok(required, &[Value::from("needed"), Value::from("v")]),
            "v"
        );
    }

    #[test]
    fn the_chart_refuses_a_missing_tag() {
        let err = render(&chart_dir(), &Release::default(), &Json::Null)
            .expect_err("no tag, no manifests");
        assert!(err.to_string().contains("image.tag is required"), "{err}");
    }

    #[test]
    fn the_chart_refuses_latest() {
        let err = render(&chart_dir(), &Release::default(), &tag_values("latest"))
            .expect_err("latest is refused");
        assert!(err.to_string().contains("never latest"), "{err}");
    }

    #[test]
    fn the_committed_manifests_are_the_chart_rendered() {
        let committed = read(&manifests_file()).expect("deploy/manifests/berth.yaml");
        let tag = tag_in(&committed).expect("a tag in the manifests");
        let rendered =
            render(&chart_dir(), &Release::default(), &tag_values(&tag)).expect("chart renders");
        assert!(
            to_file(&rendered) == committed,
            "deploy/manifests/berth.yaml is stale: run `make manifests`"
        );
    }
}

#[cfg(test)]
mod dockerfile {
    fn stages() -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile");
        let text = std::fs::read_to_string(path).expect("deploy/Dockerfile");
        let mut stages: Vec<String> = Vec::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if line.starts_with("FROM ") {
                stages.push(String::new());
            }
            if let Some(stage) = stages.last_mut() {
                stage.push_str(line);
                stage.push('\n');
            }
        }
        stages
    }

    /// No Docker on this machine to build it; what can be checked without one is checked.
    #[test]
    fn builds_server_and_site_then_runs_distroless_as_non_root() {
        let stages = stages();
        assert_eq!(stages.len(), 2, "a build stage and a run stage");
        let (build, run) = (&stages[0], &stages[1]);
        assert!(build.contains("scripts/site.sh"), "the WASM site is built");
        assert!(build.contains("cargo build --locked --release -p server --bin berth"));
        assert!(build.contains("wasm-bindgen-cli --version 0.2.130"));
        assert!(run.starts_with("FROM gcr.io/distroless/"), "{run}");
        assert!(run.contains("USER 65532:65532"));
        assert!(
            !run.contains("RUN "),
            "nothing runs in the final image's build"
        );
        // The chart runs the image as that same user.
        let chart = std::fs::read_to_string(super::chart_dir().join("templates/deployment.yaml"))
            .expect("deployment template");
        assert!(chart.contains("runAsUser: 65532"));
        assert!(run.contains("BERTH_SITE_ROOT=/app/site"));
    }
}

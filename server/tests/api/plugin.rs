//! `kubectl berth`, the plugin, run by the real kubectl 1.37 (found on PATH as
//! `kubectl-berth`) against a Berth on the real control plane: log in, request a namespace,
//! ask for access and wait while another user approves, use the grant's context with kubectl,
//! revoke, and the exit codes a script sees on the way.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::flows::*;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// A directory holding `kubectl-berth` (a link to the built `berth`), a login file per user
/// and a kubeconfig of their own.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Desk {
        let dir = common::scratch_dir("plugin");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_berth"),
            dir.path().join("kubectl-berth"),
        )
        .expect("link kubectl-berth");
        Desk { dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `kubectl <args>` as `who` (their login file), the plugin found on PATH.
    fn kubectl(&self, who: &str, args: &[&str]) -> tokio::process::Command {
        let kubectl = sandbox::control_plane::default_bin_dir().join("kubectl");
        let mut cmd = tokio::process::Command::new(kubectl);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths).expect("PATH"))
            .env("BERTH_CONFIG", self.dir.path().join(format!("{who}.json")))
            .env("KUBECONFIG", self.kubeconfig())
            .env_remove("BERTH_SERVER")
            .env_remove("BERTH_TOKEN")
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, who: &str, args: &[&str]) -> Output {
        tokio::time::timeout(common::PATIENCE, self.kubectl(who, args).output())
            .await
            .expect("kubectl finished in time")
            .expect("kubectl ran")
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn can_list_pods(kubeconfig: &Path, context: &str, namespace: &str) -> bool {
    let kubectl = sandbox::control_plane::default_bin_dir().join("kubectl");
    std::process::Command::new(kubectl)
        .args(["--kubeconfig"])
        .arg(kubeconfig)
        .args(["--context", context, "get", "pods", "-n", namespace])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn kubectl_berth_from_login_to_a_revoked_grant() {
    common::run(async {
        let (_pg, app) = app().await;
        let client = admin_client(&app).await;
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": "plugin-shop", "labels": { "berth.dev/team": "payments" } }
        }))
        .expect("namespace");
        Api::<Namespace>::all(client)
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let desk = Desk::new();

        // Not logged in: exit 3 with what to do.
        let out = desk.run("dana", &["berth", "ns", "list"]).await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(text(&out).contains("kubectl berth login"), "{}", text(&out));

        let dana = api_token(&app, "demo:dana", &["namespaces", "access"]).await;
        let sam = api_token(&app, "demo:sam", &["access"]).await;
        let out = desk
            .run(
                "dana",
                &[
                    "berth",
                    "login",
                    "--server",
                    &app.base,
                    "--token",
                    "berth_wrong",
                ],
            )
            .await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        for (who, token) in [("dana", &dana), ("sam", &sam)] {
            let out = desk
                .run(
                    who,
                    &["berth", "login", "--server", &app.base, "--token", token],
                )
                .await;
            assert!(out.status.success(), "{}", text(&out));
        }
        let out = desk.run("dana", &["berth", "whoami", "-o", "json"]).await;
        let me: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(me["id"], "demo:dana");

        // A namespace: bad input is exit 6 with the field named; a good one is granted.
        let request = |name: &str| {
            vec![
                "berth".to_owned(),
                "ns".to_owned(),
                "request".to_owned(),
                name.to_owned(),
                "--team=payments".to_owned(),
                "--purpose=Try the plugin".to_owned(),
                "--contact=dana@example.com".to_owned(),
                "--cost-centre=CC-1042".to_owned(),
            ]
        };
        let bad = request("Bad_Name");
        let out = desk
            .run("dana", &bad.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));
        assert!(text(&out).contains("name:"), "{}", text(&out));
        let good = request("plugin-ledger");
        let out = desk
            .run("dana", &good.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("approved"));
        let out = desk.run("dana", &["berth", "ns", "list"]).await;
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(table.starts_with("NAME "), "{table}");
        assert!(table.contains("plugin-ledger"), "{table}");

        // Access: the request waits while Sam approves (Dana may not approve her own).
        let mut waiting = desk
            .kubectl(
                "dana",
                &[
                    "berth",
                    "access",
                    "request",
                    "--role",
                    "view",
                    "-n",
                    "plugin-shop",
                    "--for",
                    "30m",
                    "--reason",
                    "incident 4711",
                    "--timeout",
                    "2m",
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("request access");
        let deadline = Instant::now() + common::PATIENCE;
        let id = loop {
            let out = desk
                .run("sam", &["berth", "access", "list", "-o", "json"])
                .await;
            let overview: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let pending = overview
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(Value::as_array)
                .flatten()
                .find(|v| v["requester_id"] == "demo:dana" && v["state"] == "Pending")
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            if let Some(id) = pending {
                break id;
            }
            assert!(
                Instant::now() < deadline,
                "no pending request: {}",
                text(&out)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let out = desk.run("dana", &["berth", "access", "approve", &id]).await;
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        let out = desk
            .run(
                "sam",
                &["berth", "access", "approve", &id, "--comment", "ok"],
            )
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let done = tokio::time::timeout(common::PATIENCE, waiting.wait())
            .await
            .expect("the request finished waiting")
            .expect("exit status");
        assert!(done.success(), "the waiting request failed: {done:?}");

        let context = format!("berth-{id}");
        let kubeconfig = desk.kubeconfig();
        // Active only once the API server's authorizer honours it: no retry needed.
        assert!(
            can_list_pods(&kubeconfig, &context, "plugin-shop"),
            "the grant's context was refused right after the request returned"
        );
        assert!(
            !can_list_pods(&kubeconfig, &context, "kube-system"),
            "the grant reaches past its namespace"
        );

        let out = desk.run("dana", &["berth", "access", "revoke", &id]).await;
        assert!(out.status.success(), "{}", text(&out));
        let deadline = Instant::now() + common::PATIENCE;
        while can_list_pods(&kubeconfig, &context, "plugin-shop") {
            assert!(Instant::now() < deadline, "still allowed after revoke");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // A request for nothing, and a grant that is over.
        let out = desk
            .run("dana", &["berth", "access", "request", "--reason", "x"])
            .await;
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));

        // Reports as tables and JSON.
        let out = desk
            .run(
                "dana",
                &[
                    "berth", "cost", "--team", "payments", "--window", "7d", "-o", "json",
                ],
            )
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(report["groups"].is_array(), "{report}");
        let out = desk
            .run("dana", &["berth", "cost", "--window", "fortnight"])
            .await;
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));
        let out = desk
            .run("dana", &["berth", "rollout", "status", "-n", "plugin-shop"])
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let out = desk.run("dana", &["berth", "ns", "frobnicate"]).await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        app.stop().await;
    });
}

#[test]
fn kubectl_berth_works_on_another_cluster_of_the_fleet() {
    use k8s_openapi::api::core::v1::Namespace;
    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, second, _dir) = crate::fleet::two_clusters(&url).await;
        app.wait_ready().await;
        let desk = Desk::new();
        let dana = api_token(&app, "demo:dana", &["namespaces", "access"]).await;
        let out = desk
            .run(
                "dana",
                &["berth", "login", "--server", &app.base, "--token", &dana],
            )
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let request = |name: &str, on: &str| {
            [
                "berth",
                "ns",
                "request",
                name,
                "--team=payments",
                "--purpose=Try the fleet",
                "--contact=dana@example.com",
                "--cost-centre=CC-1042",
                "--on",
                on,
            ]
            .map(str::to_owned)
        };

        // A cluster the fleet does not have: exit 6, named.
        let out = desk
            .run(
                "dana",
                &request("plugin-mars", "mars-1")
                    .each_ref()
                    .map(String::as_str),
            )
            .await;
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));
        assert!(text(&out).contains("mars-1"), "{}", text(&out));

        // On the second cluster: made there, not at home, and listed with its cluster.
        let out = desk
            .run(
                "dana",
                &request("plugin-far", "second")
                    .each_ref()
                    .map(String::as_str),
            )
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let on_second = Api::<Namespace>::all(second.admin_client().await);
        let deadline = Instant::now() + common::PATIENCE;
        while on_second
            .get_opt("plugin-far")
            .await
            .expect("read")
            .is_none()
        {
            assert!(Instant::now() < deadline, "plugin-far never made on second");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let home = Api::<Namespace>::all(admin_client(&app).await);
        assert!(home.get_opt("plugin-far").await.expect("read").is_none());
        let out = desk.run("dana", &["berth", "ns", "list"]).await;
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let row = table
            .lines()
            .find(|l| l.starts_with("plugin-far "))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains(" second "), "{table}");

        // Rollouts and cost narrow to one cluster of the fleet.
        crate::fleet::reserve_a_core(&second.admin_client().await, "plugin-roll", "payments").await;
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let out = desk
                .run("dana", &["berth", "rollout", "status", "--on", "second"])
                .await;
            assert!(out.status.success(), "{}", text(&out));
            let table = String::from_utf8_lossy(&out.stdout).into_owned();
            if let Some(row) = table.lines().find(|l| l.contains(" plugin-roll ")) {
                assert!(row.starts_with("second "), "{table}");
                break;
            }
            assert!(Instant::now() < deadline, "never listed: {table}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let out = desk
            .run("dana", &["berth", "rollout", "status", "--on", "default"])
            .await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(!text(&out).contains("plugin-roll"), "{}", text(&out));
        let out = desk
            .run("dana", &["berth", "cost", "--on", "Not_A_Cluster"])
            .await;
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));
        assert!(text(&out).contains("cluster"), "{}", text(&out));
    })
}

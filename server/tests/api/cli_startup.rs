//! The `berth` binary's start-up: bad input is one line naming the fix; the demo keeps its data.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestPostgres, scratch_dir};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn berth() -> Command {
    common::berth_command()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run berth")
}

/// The failure is reported on exactly one line of stderr, with no panic.
fn assert_one_line_failure(out: &Output, needles: &[&str]) -> String {
    assert!(!out.status.success(), "must fail");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("berth: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected in {stderr:?}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in {:?}",
            lines[0]
        );
    }
    lines[0].to_owned()
}

#[test]
fn serve_without_a_database_url_says_which_variable_to_set() {
    let out = run(berth().arg("serve"));
    assert_one_line_failure(&out, &["BERTH_DATABASE_URL"]);
}

#[test]
fn a_malformed_config_file_is_named_with_its_line() {
    let dir = scratch_dir("cfg-");
    let path = dir.path().join("berth.toml");
    std::fs::write(&path, "listen = \"0.0.0.0:8080\"\n[database\n").expect("write");
    let out = run(berth().arg("serve").arg("--config").arg(&path));
    assert_one_line_failure(&out, &["berth.toml", "line 2"]);
}

#[test]
fn an_unreachable_database_is_named_with_the_fix() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = run(berth()
        .arg("serve")
        .env(
            "BERTH_DATABASE_URL",
            format!("postgres://berth:secret@127.0.0.1:{port}/berth"),
        )
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("BERTH_DATABASE_CONNECT_TIMEOUT_SECS", "2"));
    let line = assert_one_line_failure(
        &out,
        &[
            "cannot reach the database",
            &format!("127.0.0.1:{port}/berth"),
            "BERTH_DATABASE_URL",
        ],
    );
    assert!(!line.contains("secret"), "password leaked: {line}");
}

#[test]
fn a_port_in_use_is_named_with_the_fix() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = run(berth()
        .arg("demo")
        .arg("--port")
        .arg(port.to_string())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"));
    assert_one_line_failure(&out, &[&format!("127.0.0.1:{port}"), "in use", "--port"]);
}

/// Waits for the demo to print its URL; returns what it printed until then.
fn wait_for_url(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the URL appeared so the demo never writes into a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // A bound, not a timing: a first start imports a month of history, which a machine busy
    // building takes minutes over (120 s was seen to fall short).
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = line.contains("Berth demo is running at");
            seen.push(line);
            if done {
                return seen;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("demo exited early ({status}): {seen:?}");
        }
    }
    let _ = child.kill();
    panic!("demo did not come up: {seen:?}");
}

/// `/readyz` answers 200 once the watch caches hold their lists, a moment after the URL.
async fn ready_within_15s(port: u16) {
    for _ in 0..300 {
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .expect("readyz");
        if ready.status() == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the demo was not ready within 15 s");
}

fn stop_with_ctrl_c(mut child: Child) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, Signal::SIGINT).expect("signal demo");
    let status = child.wait().expect("wait demo");
    assert!(status.success(), "demo exit status {status}");
}

#[tokio::test]
async fn demo_starts_its_own_postgres_and_reuses_it_next_time() {
    let state = scratch_dir("demo-");
    let state_dir = state.path().join("state");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let start = || {
        berth()
            .arg("demo")
            .arg("--port")
            .arg(port.to_string())
            .arg("--state-dir")
            .arg(&state_dir)
            .env("BERTH_LOG_FILTER", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn demo")
    };

    let mut first = start();
    let printed = wait_for_url(&mut first).join("\n");
    assert!(
        printed.contains("created a new Postgres cluster"),
        "{printed}"
    );
    assert!(
        printed.contains(&state_dir.display().to_string()),
        "{printed}"
    );
    ready_within_15s(port).await;
    // The provisioner makes the demo's granted namespaces in the local cluster.
    let kubeconfig = state_dir.join("sandbox.kubeconfig");
    namespace_exists(&kubeconfig, "payments-sandbox").await;
    stop_with_ctrl_c(first);
    // A clean stop leaves no running postmaster and no control-plane process behind.
    assert!(!state_dir.join("postgres/postmaster.pid").exists());
    assert_eq!(processes_under(&state_dir), Vec::<String>::new());

    let mut second = start();
    let printed = wait_for_url(&mut second).join("\n");
    assert!(
        !printed.contains("created a new Postgres cluster"),
        "{printed}"
    );
    ready_within_15s(port).await;
    // etcd kept the cluster: what was provisioned before the restart is still there.
    namespace_exists(&kubeconfig, "payments-sandbox").await;

    // A `kill -9` leaves Postgres and the control plane running; the next start ends them
    // and carries on with the same data.
    second.kill().expect("kill -9 the demo");
    let _ = second.wait();
    assert!(!processes_under(&state_dir).is_empty());
    let mut third = start();
    let printed = wait_for_url(&mut third).join("\n");
    assert!(
        printed.contains("Stopped the Postgres a killed demo left running"),
        "{printed}"
    );
    ready_within_15s(port).await;
    namespace_exists(&kubeconfig, "payments-sandbox").await;
    stop_with_ctrl_c(third);
    assert_eq!(processes_under(&state_dir), Vec::<String>::new());
}

/// Waits (30 s at most) until the local cluster behind `kubeconfig` has namespace `name`.
async fn namespace_exists(kubeconfig: &std::path::Path, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let text = std::fs::read_to_string(kubeconfig).expect("the demo's admin kubeconfig");
    let client = sandbox::kubeconfig::client(&text).await.expect("client");
    let api: kube::Api<Namespace> = kube::Api::all(client);
    for _ in 0..120 {
        if let Ok(Some(_)) = api.get_opt(name).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("namespace {name} never appeared in the local cluster");
}

/// Command lines of running processes that name `dir` (Postgres, etcd, the API server …).
fn processes_under(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z");
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !zombie && cmdline.contains(&needle) && !cmdline.contains(" demo ") {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn migrate_applies_the_schema_and_is_idempotent() {
    let pg = TestPostgres::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime.block_on(pg.database("berth_migrate"));
    for _ in 0..2 {
        let out = run(berth().arg("migrate").env("BERTH_DATABASE_URL", &url));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let count: i64 = runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        sqlx::query_scalar("SELECT count(*) FROM berth_instance")
            .fetch_one(&pool)
            .await
            .expect("query")
    });
    assert_eq!(count, 1);
}

#[test]
fn a_missing_kubeconfig_is_named_with_the_fix() {
    let pg = TestPostgres::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime.block_on(pg.database("berth_serve"));
    let out = run(berth()
        .arg("serve")
        .env("BERTH_DATABASE_URL", &url)
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("BERTH_CLUSTER_KUBECONFIG", "/nonexistent/kubeconfig"));
    assert_one_line_failure(
        &out,
        &["/nonexistent/kubeconfig", "BERTH_CLUSTER_KUBECONFIG"],
    );
}

/// A shutdown ends within its grace even while a client holds a request open (here one that
/// never finishes sending its body), and a second signal ends the process at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_and_a_second_signal_ends_it_at_once() {
    use leptos::server_fn::ServerFn;
    use std::io::Write;
    let pg = TestPostgres::start();
    let url = pg.database("berth_shutdown").await;
    let cluster = common::TestCluster::shared().await;
    let dir = scratch_dir("shutdown-");
    let kubeconfig = dir.path().join("berth.kubeconfig");
    std::fs::write(&kubeconfig, common::berth_kubeconfig(&cluster).await).expect("kubeconfig");
    // (grace, signals sent, exit code expected)
    for (grace, signals, code) in [("1", 1, 0), ("600", 2, 130)] {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = berth()
            .arg("serve")
            .env("BERTH_DATABASE_URL", &url)
            .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
            .env("BERTH_CLUSTER_KUBECONFIG", &kubeconfig)
            .env("BERTH_HTTP_SHUTDOWN_GRACE_SECS", grace)
            .env("BERTH_HTTP_REQUEST_TIMEOUT_SECS", "600")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let up = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .is_ok_and(|r| r.status() == 200);
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "serve never came up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A request whose body never arrives: the handler waits for it.
        let mut stuck = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            stuck,
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nid=",
            app::api::AccessDetail::PATH
        )
        .expect("send the start of a request");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("signal");
        if signals == 2 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(
                child.try_wait().expect("status").is_none(),
                "with a long grace the first signal waits for the open request"
            );
            kill(pid, Signal::SIGTERM).expect("second signal");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("status") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve still running 30 s after {signals} signal(s) with grace {grace} s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status.code(), Some(code), "grace {grace}");
        drop(stuck);
    }
}

//! `kubectl berth`: the `berth` binary, installed as `kubectl-berth`, as a kubectl plugin that
//! drives Berth's REST API with an API token. Exit codes a script can test:
//! 0 done, 1 Berth unreachable or failing, 2 bad usage, 3 not logged in or token refused,
//! 4 forbidden, 5 not found, 6 invalid input, 7 conflict, 8 access denied, revoked or expired,
//! 9 timed out waiting.

mod client;
mod login;
mod output;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use client::Client;
use output::{Format, cell, print};

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Ended(String),
    #[error("{0}")]
    TimedOut(String),
}

impl PluginError {
    pub fn exit_code(&self) -> u8 {
        match self {
            PluginError::Unreachable(_) => 1,
            PluginError::Unauthenticated(_) => 3,
            PluginError::Forbidden(_) => 4,
            PluginError::NotFound(_) => 5,
            PluginError::Invalid(_) => 6,
            PluginError::Conflict(_) => 7,
            PluginError::Ended(_) => 8,
            PluginError::TimedOut(_) => 9,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "kubectl berth",
    bin_name = "kubectl berth",
    version,
    about = "Berth from kubectl: namespaces, just-in-time access, cost and rollouts"
)]
pub struct PluginCli {
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value_t
    )]
    output: Format,
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Save Berth's address and an API token (read from --token, BERTH_TOKEN or stdin).
    Login(LoginArgs),
    /// Who the token belongs to.
    Whoami,
    /// Namespaces: request, list, extend.
    #[command(alias = "namespace", alias = "namespaces")]
    Ns(NsArgs),
    /// Just-in-time elevated access.
    Access(AccessArgs),
    /// What namespaces cost over a window.
    Cost(CostArgs),
    /// Rollouts.
    Rollout(RolloutArgs),
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// Berth's URL, e.g. https://berth.example.com.
    #[arg(long)]
    server: String,
    /// The API token; read from stdin when absent (so it stays out of shell history).
    #[arg(long)]
    token: Option<String>,
}

#[derive(Debug, Args)]
struct NsArgs {
    #[command(subcommand)]
    command: NsCommand,
}

#[derive(Debug, Subcommand)]
enum NsCommand {
    /// Ask for a namespace; granted at once or left for a manager, as policy says.
    Request(NsRequestArgs),
    /// The namespace requests you may see.
    #[command(alias = "ls")]
    List,
    /// Ask for more time for a namespace.
    Extend(NsExtendArgs),
}

#[derive(Debug, Args)]
struct NsRequestArgs {
    name: String,
    #[arg(long)]
    team: String,
    #[arg(long, default_value = "small")]
    tier: String,
    /// 1d, 7d, 30d or permanent.
    #[arg(long, default_value = "7d")]
    lifetime: String,
    #[arg(long)]
    purpose: String,
    /// Who to ask about it (an email address).
    #[arg(long)]
    contact: String,
    #[arg(long = "cost-centre", alias = "cost-center")]
    cost_centre: String,
    /// Which cluster of the fleet (as `/clusters` names it); absent: Berth's home cluster.
    #[arg(long = "on", value_name = "CLUSTER")]
    on: Option<String>,
    /// Leave out the default NetworkPolicy that denies ingress from other namespaces.
    #[arg(long)]
    no_network_policy: bool,
}

#[derive(Debug, Args)]
struct NsExtendArgs {
    name: String,
    /// How much longer: 1d, 7d, 30d or permanent.
    #[arg(long = "by", default_value = "7d")]
    lifetime: String,
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(Debug, Args)]
struct AccessArgs {
    #[command(subcommand)]
    command: AccessCommand,
}

#[derive(Debug, Subcommand)]
enum AccessCommand {
    /// Ask for a role for a while; waits for approval and writes the grant's kubeconfig context.
    Request(AccessRequestArgs),
    /// Your requests, the review queue and active grants.
    #[command(alias = "ls")]
    List,
    /// Approve a request (SREs; never your own).
    Approve(ReviewArgs),
    /// Deny a request.
    Deny(ReviewArgs),
    /// End a request or grant now.
    Revoke(ReviewArgs),
}

#[derive(Debug, Args)]
struct AccessRequestArgs {
    /// view, edit, admin or a ClusterRole the policy allows.
    #[arg(long, default_value = "view")]
    role: String,
    /// A namespace (repeat for several).
    #[arg(short = 'n', long = "namespace")]
    namespaces: Vec<String>,
    /// The whole cluster instead of namespaces.
    #[arg(long, conflicts_with = "namespaces")]
    cluster: bool,
    /// Which cluster of the fleet (as `/clusters` names it); absent: Berth's home cluster.
    #[arg(long = "on", value_name = "CLUSTER")]
    on: Option<String>,
    /// How long: 30m, 2h, 1h30m.
    #[arg(long = "for", default_value = "1h")]
    duration: String,
    #[arg(long)]
    reason: String,
    #[arg(long, default_value = "")]
    ticket: String,
    /// Break-glass: self-approved where policy allows it, reviewed afterwards.
    #[arg(long)]
    break_glass: bool,
    /// File the request and return without waiting.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for approval.
    #[arg(long, default_value = "15m", value_parser = parse_wait)]
    timeout: Duration,
    /// The kubeconfig file to add the grant's context to (default: $KUBECONFIG's first, else
    /// ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<std::path::PathBuf>,
    /// Make the grant's context the current one.
    #[arg(long)]
    use_context: bool,
}

#[derive(Debug, Args)]
struct ReviewArgs {
    id: String,
    #[arg(long, default_value = "")]
    comment: String,
}

#[derive(Debug, Args)]
struct CostArgs {
    #[arg(long)]
    team: Option<String>,
    /// 24h, 7d or 30d.
    #[arg(long, default_value = "7d")]
    window: String,
    /// Rows by namespace, team, workload or cluster.
    #[arg(long, default_value = "namespace")]
    by: String,
    /// Only this cluster of the fleet (as `/clusters` names it); absent: every cluster.
    #[arg(long = "on", value_name = "CLUSTER")]
    on: Option<String>,
}

#[derive(Debug, Args)]
struct RolloutArgs {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Every workload you may see with its rollout state, as `kubectl rollout status` derives it.
    Status(RolloutStatusArgs),
}

#[derive(Debug, Args)]
struct RolloutStatusArgs {
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    #[arg(long)]
    team: Option<String>,
    /// Only this cluster of the fleet (as `/clusters` names it); absent: every cluster.
    #[arg(long = "on", value_name = "CLUSTER")]
    on: Option<String>,
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    domain::jit::parse_minutes(text)
        .map(|m| Duration::from_secs(u64::from(m) * 60))
        .or_else(|_| {
            text.strip_suffix('s')
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{text:?} is not a duration like 90s, 15m or 1h"))
        })
}

/// Runs the plugin with `args` (the first being the program's name).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match PluginCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

async fn run(cli: PluginCli) -> Result<(), PluginError> {
    let format = cli.output;
    if let PluginCommand::Login(args) = cli.command {
        return log_in(args).await;
    }
    let saved = login::load()?;
    let client = Client::new(&saved.server, &saved.token)?;
    match cli.command {
        PluginCommand::Login(_) => Ok(()),
        PluginCommand::Whoami => {
            let me = client.get("/api/v1/me").await?;
            print(format, &me, &["id", "name", "roles", "teams"], |me| {
                vec![vec![
                    cell(&me["id"]),
                    cell(&me["display_name"]),
                    cell(&me["roles"]),
                    cell(&me["teams"]),
                ]]
            })
        }
        PluginCommand::Ns(ns) => match ns.command {
            NsCommand::List => ns_list(&client, format).await,
            NsCommand::Request(args) => ns_request(&client, format, args).await,
            NsCommand::Extend(args) => ns_extend(&client, format, args).await,
        },
        PluginCommand::Access(access) => match access.command {
            AccessCommand::Request(args) => access_request(&client, format, args).await,
            AccessCommand::List => access_list(&client, format).await,
            AccessCommand::Approve(args) => review(&client, format, args, "approve").await,
            AccessCommand::Deny(args) => review(&client, format, args, "deny").await,
            AccessCommand::Revoke(args) => {
                let view = client
                    .post(
                        &format!("/api/v1/access/{}/revoke", path_part(&args.id)),
                        &json!({ "comment": args.comment }),
                    )
                    .await?;
                print_access(format, &view)
            }
        },
        PluginCommand::Cost(args) => cost(&client, format, args).await,
        PluginCommand::Rollout(rollout) => match rollout.command {
            RolloutCommand::Status(args) => rollout_status(&client, format, args).await,
        },
    }
}

/// A path segment as typed, escaped so `..` or `/` cannot reach another route.
fn path_part(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' if text != ".." => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn query_part(text: &str) -> String {
    path_part(text)
}

async fn log_in(args: LoginArgs) -> Result<(), PluginError> {
    let token = match args.token.or_else(|| std::env::var("BERTH_TOKEN").ok()) {
        Some(token) => token,
        None => {
            eprintln!(
                "Paste an API token (make one at {}/tokens) and press Enter:",
                args.server.trim_end_matches('/')
            );
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| PluginError::Invalid(format!("reading the token: {e}")))?;
            line
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(PluginError::Invalid("no token given".to_owned()));
    }
    let client = Client::new(&args.server, &token)?;
    let me = client.get("/api/v1/me").await?;
    let path = login::save(&login::Login {
        server: client.server().to_owned(),
        token,
    })?;
    println!(
        "Logged in to {} as {} ({}); saved in {}",
        client.server(),
        me["display_name"].as_str().unwrap_or_default(),
        me["id"].as_str().unwrap_or_default(),
        path.display()
    );
    Ok(())
}

async fn ns_list(client: &Client, format: Format) -> Result<(), PluginError> {
    let list = client
        .get_all("/api/v1/namespace-requests?limit=200")
        .await?;
    print(
        format,
        &list,
        &[
            "name",
            "cluster",
            "team",
            "tier",
            "state",
            "expires",
            "requester",
        ],
        |list| {
            list.as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    vec![
                        cell(&r["name"]),
                        cell(&r["cluster"]),
                        cell(&r["team"]),
                        cell(&r["tier"]),
                        cell(&r["state"]),
                        if r["expires_at"].is_null() && r["lifetime"] == "permanent" {
                            "never".to_owned()
                        } else {
                            cell(&r["expires_at"])
                        },
                        cell(&r["requester"]),
                    ]
                })
                .collect()
        },
    )
}

async fn ns_request(client: &Client, format: Format, a: NsRequestArgs) -> Result<(), PluginError> {
    let answer = client
        .post(
            "/api/v1/namespace-requests",
            &json!({
                "name": a.name, "team": a.team, "purpose": a.purpose, "contact": a.contact,
                "cost_centre": a.cost_centre, "tier": a.tier, "lifetime": a.lifetime,
                "network_policy": !a.no_network_policy,
                "cluster": a.on.clone().unwrap_or_default(),
            }),
        )
        .await?;
    print(format, &answer, &["name", "id", "state"], |answer| {
        vec![vec![
            a.name.clone(),
            cell(&answer["id"]),
            cell(&answer["state"]),
        ]]
    })
}

async fn ns_extend(client: &Client, format: Format, a: NsExtendArgs) -> Result<(), PluginError> {
    let list = client
        .get_all("/api/v1/namespace-requests?limit=200")
        .await?;
    let request = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == a.name.as_str() && r["state"] == "Ready")
        .ok_or_else(|| {
            PluginError::NotFound(format!(
                "you have no ready namespace {:?}: `kubectl berth ns list` shows yours",
                a.name
            ))
        })?;
    let answer = client
        .post(
            "/api/v1/namespace-changes",
            &json!({
                "request_id": request["id"], "kind": "extend", "lifetime": a.lifetime,
                "tier": "", "reason": a.reason,
            }),
        )
        .await?;
    print(format, &answer, &["name", "change", "state"], |answer| {
        vec![vec![
            a.name.clone(),
            cell(&answer["id"]),
            cell(&answer["state"]),
        ]]
    })
}

/// The columns of an access request's row ([`access_row`]).
const ACCESS_COLUMNS: &[&str] = &[
    "id",
    "requester",
    "role",
    "cluster",
    "scope",
    "state",
    "expires",
];

fn print_access(format: Format, view: &Value) -> Result<(), PluginError> {
    print(format, view, ACCESS_COLUMNS, |v| vec![access_row(v)])
}

fn access_row(v: &Value) -> Vec<String> {
    vec![
        cell(&v["id"]),
        cell(&v["requester"]),
        cell(&v["role"]),
        cell(&v["target_cluster"]),
        cell(&v["scope"]),
        cell(&v["state"]),
        cell(&v["expires_at"]),
    ]
}

async fn access_list(client: &Client, format: Format) -> Result<(), PluginError> {
    let overview = client.get("/api/v1/access").await?;
    print(format, &overview, ACCESS_COLUMNS, |o| {
        // One row per request, wherever the overview lists it.
        let mut seen = std::collections::HashSet::new();
        o.as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter(|v| v["id"].is_string() && seen.insert(v["id"].to_string()))
            .map(access_row)
            .collect()
    })
}

async fn review(
    client: &Client,
    format: Format,
    a: ReviewArgs,
    decision: &str,
) -> Result<(), PluginError> {
    let view = client
        .post(
            &format!("/api/v1/access/{}/review", path_part(&a.id)),
            &json!({ "decision": decision, "reason": a.comment }),
        )
        .await?;
    print_access(format, &view)
}

async fn access_request(
    client: &Client,
    format: Format,
    a: AccessRequestArgs,
) -> Result<(), PluginError> {
    if !a.cluster && a.namespaces.is_empty() {
        return Err(PluginError::Invalid(
            "name a namespace with -n (repeat for several) or ask for --cluster".to_owned(),
        ));
    }
    let asked = client
        .post(
            "/api/v1/access",
            &json!({
                "namespaces": a.namespaces.join(","), "cluster": a.cluster, "role": a.role,
                "duration": a.duration, "reason": a.reason, "ticket": a.ticket,
                "break_glass": a.break_glass,
                "target_cluster": a.on.clone().unwrap_or_default(),
            }),
        )
        .await?;
    let id = asked["id"].as_str().unwrap_or_default().to_owned();
    if a.no_wait {
        return print_access(format, &asked);
    }
    eprintln!(
        "Request {id} filed; waiting for approval (up to {} s)…",
        a.timeout.as_secs()
    );
    let deadline = Instant::now() + a.timeout;
    let view = loop {
        let detail = client
            .get(&format!("/api/v1/access/{}", path_part(&id)))
            .await?;
        let view = detail["request"].clone();
        match view["state"].as_str().unwrap_or_default() {
            "Active" => break view,
            "Denied" | "Revoked" | "Expired" => {
                return Err(PluginError::Ended(format!(
                    "request {id} is {}{}",
                    view["state"].as_str().unwrap_or_default().to_lowercase(),
                    view["end_comment"]
                        .as_str()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(PluginError::TimedOut(format!(
                "request {id} is still {} after {} s; `kubectl berth access list` shows it",
                view["state"].as_str().unwrap_or("pending").to_lowercase(),
                a.timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let text = client
        .post(
            &format!("/api/v1/access/{}/kubeconfig", path_part(&id)),
            &json!({}),
        )
        .await?;
    let context = format!("berth-{id}");
    let file = write_context(
        text.as_str().unwrap_or_default(),
        &context,
        a.kubeconfig,
        a.use_context,
    )?;
    eprintln!(
        "Granted until {}. Context {context} is in {}: kubectl --context {context} …",
        view["expires_at"].as_str().unwrap_or("its expiry"),
        file.display()
    );
    print_access(format, &view)
}

/// Adds the grant's kubeconfig to the user's kubeconfig file as context `name`.
fn write_context(
    grant: &str,
    name: &str,
    file: Option<std::path::PathBuf>,
    switch: bool,
) -> Result<std::path::PathBuf, PluginError> {
    let file = file
        .or_else(|| {
            std::env::var_os("KUBECONFIG")
                .and_then(|k| std::env::split_paths(&k).next())
                .filter(|p| !p.as_os_str().is_empty())
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".kube/config"))
        })
        .ok_or_else(|| PluginError::Invalid("no kubeconfig file: pass --kubeconfig".to_owned()))?;
    let io = |e: std::io::Error| PluginError::Invalid(format!("{}: {e}", file.display()));
    let incoming: Value = serde_yaml::from_str(grant).map_err(|e| {
        PluginError::Unreachable(format!("Berth sent an unreadable kubeconfig: {e}"))
    })?;
    let existing: Value = match std::fs::read_to_string(&file) {
        Ok(text) if !text.trim().is_empty() => serde_yaml::from_str(&text).map_err(|e| {
            PluginError::Invalid(format!("{} is not a kubeconfig: {e}", file.display()))
        })?,
        Ok(_) => Value::Null,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
        Err(e) => return Err(io(e)),
    };
    let merged = domain::kubeconfig::merge(existing, &incoming, name, switch)
        .map_err(PluginError::Unreachable)?;
    let text = serde_yaml::to_string(&merged).map_err(|e| PluginError::Invalid(e.to_string()))?;
    login::write_private(&file, &text)?;
    Ok(file)
}

async fn cost(client: &Client, format: Format, a: CostArgs) -> Result<(), PluginError> {
    let mut path = format!(
        "/api/v1/cost?window={}&by={}",
        query_part(&a.window),
        query_part(&a.by)
    );
    if let Some(team) = &a.team {
        path.push_str(&format!("&team={}", query_part(team)));
    }
    if let Some(cluster) = &a.on {
        path.push_str(&format!("&cluster={}", query_part(cluster)));
    }
    let report = client.get(&path).await?;
    let money = |v: &Value| format!("{:.2}", v.as_f64().unwrap_or(0.0));
    let percent = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "<none>".to_owned(), |e| format!("{:.0}%", e * 100.0))
    };
    print(
        format,
        &report,
        &[
            a.by.as_str(),
            // A namespace's or workload's (one name may be on several); empty otherwise.
            "cluster",
            "cpu",
            "memory",
            "storage",
            "total",
            "efficiency",
        ],
        |r| {
            let mut rows: Vec<Vec<String>> = r["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    vec![
                        cell(&g["key"]),
                        cell(&g["cluster"]),
                        money(&g["cost"]["cpu"]),
                        money(&g["cost"]["memory"]),
                        money(&g["cost"]["storage"]),
                        money(&g["total"]),
                        percent(&g["efficiency"]),
                    ]
                })
                .collect();
            rows.push(vec![
                "(idle)".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                money(&r["idle"]),
                String::new(),
            ]);
            rows.push(vec![
                "(total)".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                money(&r["total"]),
                percent(&r["efficiency"]),
            ]);
            rows
        },
    )
}

async fn rollout_status(
    client: &Client,
    format: Format,
    a: RolloutStatusArgs,
) -> Result<(), PluginError> {
    let mut path = "/api/v1/rollouts?".to_owned();
    if let Some(ns) = &a.namespace {
        path.push_str(&format!("namespace={}&", query_part(ns)));
    }
    if let Some(team) = &a.team {
        path.push_str(&format!("team={}&", query_part(team)));
    }
    if let Some(cluster) = &a.on {
        path.push_str(&format!("cluster={}&", query_part(cluster)));
    }
    // Every page, so a script sees the whole list.
    let mut groups = Vec::new();
    let mut page = 1;
    loop {
        let answer = client.get(&format!("{path}page={page}")).await?;
        groups.extend(answer["groups"].as_array().cloned().unwrap_or_default());
        let pages = answer["pages"].as_u64().unwrap_or(1);
        if page as u64 >= pages {
            break;
        }
        page += 1;
    }
    let all = Value::Array(groups);
    print(
        format,
        &all,
        &[
            "cluster",
            "namespace",
            "kind",
            "name",
            "state",
            "ready",
            "up-to-date",
            "message",
        ],
        |groups| {
            groups
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["workloads"].as_array().cloned().unwrap_or_default())
                .map(|w| {
                    vec![
                        cell(&w["cluster"]),
                        cell(&w["namespace"]),
                        cell(&w["kind"]),
                        cell(&w["name"]),
                        cell(&w["state"]),
                        format!("{}/{}", w["ready"], w["desired"]),
                        cell(&w["updated"]),
                        cell(&w["message"]),
                    ]
                })
                .collect()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts_cannot_climb_to_another_route() {
        assert_eq!(path_part("ar-1a2b"), "ar-1a2b");
        assert_eq!(path_part("../tokens"), "..%2Ftokens");
        assert_eq!(path_part(".."), "%2E%2E");
        assert_eq!(path_part("a b&c"), "a%20b%26c");
    }

    #[test]
    fn waits_read_as_durations() {
        assert_eq!(parse_wait("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_wait("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_wait("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_wait("soon").is_err());
    }

    #[test]
    fn exit_codes_are_distinct() {
        let codes: std::collections::HashSet<u8> = [
            PluginError::Unreachable(String::new()),
            PluginError::Unauthenticated(String::new()),
            PluginError::Forbidden(String::new()),
            PluginError::NotFound(String::new()),
            PluginError::Invalid(String::new()),
            PluginError::Conflict(String::new()),
            PluginError::Ended(String::new()),
            PluginError::TimedOut(String::new()),
        ]
        .iter()
        .map(PluginError::exit_code)
        .collect();
        assert_eq!(codes.len(), 8);
        assert!(!codes.contains(&0) && !codes.contains(&2));
    }
}

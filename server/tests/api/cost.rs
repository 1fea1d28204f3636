//! The cost report over real HTTP and Postgres: history from the node simulator's usage profiles,
//! priced, grouped, idle apart or shared, narrowed to what the viewer may see, as CSV; the
//! pricing file and who may change it.

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::api::{CostReport, SavePrices};
use common::TestApp;
use common::flows::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{Api, Patch, PatchParams, PostParams};
use leptos::server_fn::ServerFn;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use server::store::Store;

const HOURS: f64 = 72.0;
const CPU: f64 = 0.031611;
const MEMORY_GIB: f64 = 0.004237;

async fn namespace_with_web(client: &kube::Client, name: &str, team: &str) {
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "berth.dev/team": team } }
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let web: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": format!("{team}-web") } },
            "template": {
                "metadata": {
                    "labels": { "app": format!("{team}-web") },
                    "annotations": {
                        "sandbox.berth.dev/usage-profile": "steady",
                        "sandbox.berth.dev/cpu-usage": "100m",
                        "sandbox.berth.dev/memory-usage": "32Mi",
                    },
                },
                "spec": { "containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": {
                        "requests": { "cpu": "500m", "memory": "64Mi" },
                        "limits": { "cpu": "500m", "memory": "64Mi" },
                    },
                }]},
            },
        },
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(client.clone(), name)
        .create(&PostParams::default(), &web)
        .await
        .expect("create deployment");
}

async fn report(app: &TestApp, cookie: &str, params: Value) -> Value {
    call_json(app, cookie, CostReport::PATH, json!({ "params": params })).await
}

fn group<'a>(r: &'a Value, key: &str) -> Option<&'a Value> {
    r["groups"].as_array()?.iter().find(|g| g["key"] == key)
}

fn keys(r: &Value) -> Vec<String> {
    r["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["key"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn the_cost_report_prices_history_and_shows_each_viewer_their_share() {
    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_cost").await;
        // A cluster of its own: nodes and idle capacity are priced cluster-wide.
        let app = TestApp::spawn_private(&url, common::test_config()).await;
        let admin = admin_client(&app).await;
        namespace_with_web(&admin, "payments-web", "payments").await;
        namespace_with_web(&admin, "platform-web", "platform").await;
        // A bound 10 GiB claim: storage is priced by requested size.
        let claims = Api::<PersistentVolumeClaim>::namespaced(admin.clone(), "payments-web");
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": { "name": "data" },
            "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "10Gi" } } },
        }))
        .expect("claim");
        claims
            .create(&PostParams::default(), &claim)
            .await
            .expect("create claim");
        claims
            .patch_status(
                "data",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "phase": "Bound" } })),
            )
            .await
            .expect("bind claim");
        // Three days of history for the six pods, once they are scheduled.
        wait_scheduled(&admin, None, 4).await;
        let store = Store::connect(&app.database_url, &common::test_config().database)
            .await
            .expect("store");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let rows =
            server::demo_history::import(&store, &[("", &admin)], &["app".to_owned()], 3, now)
                .await
                .expect("history");
        assert_eq!(rows, 4 * 72, "four containers, 72 hours each");

        // Dana (payments, checkout) sees payments only: max(request, usage) × price.
        let dana = sign_in(&app, "demo:dana").await;
        let r = report(&app, &dana, json!({ "by": "namespace", "window": "7d" })).await;
        assert_eq!(keys(&r), ["payments-web"], "{r}");
        let web = group(&r, "payments-web").expect("payments-web");
        let cpu = 2.0 * 0.5 * HOURS * CPU;
        let memory = 2.0 * (64.0 / 1024.0) * HOURS * MEMORY_GIB;
        assert!(
            close(web["cost"]["cpu"].as_f64().unwrap_or(0.0), cpu),
            "{web}"
        );
        assert!(
            close(web["cost"]["memory"].as_f64().unwrap_or(0.0), memory),
            "{web}"
        );
        let storage = 10.0 * 0.04 / 730.0 * HOURS;
        assert!(
            close(web["cost"]["storage"].as_f64().unwrap_or(0.0), storage),
            "{web}"
        );
        // Efficiency: usage 100m of 500m CPU and 32 of 64 MiB, weighted by cost.
        let efficiency =
            (0.1 * CPU + (32.0 / 1024.0) * MEMORY_GIB) / (0.5 * CPU + (64.0 / 1024.0) * MEMORY_GIB);
        let got = web["efficiency"].as_f64().unwrap_or(0.0);
        assert!((got - efficiency).abs() < 0.01, "{got} vs {efficiency}");
        // Its share of idle: the nodes cost more than the two namespaces allocate.
        let total = r["total"].as_f64().unwrap_or(0.0);
        let idle = r["idle"].as_f64().unwrap_or(0.0);
        assert!(idle > 0.0, "{r}");
        assert!(close(total, cpu + memory + storage + idle), "{r}");
        assert_eq!(
            r["buckets"].as_array().map(Vec::len),
            Some(7),
            "seven daily steps"
        );

        // Not another team's, however asked.
        let (status, body) =
            call_raw(&app, &dana, json!({ "params": { "team": "platform" } })).await;
        assert_eq!(status, 403);
        assert!(
            body.contains("visible to its members, managers and admins"),
            "{body}"
        );

        // Mike (manager) sees every team; shared idle makes the groups add up to the total.
        let mike = sign_in(&app, "demo:mike").await;
        let teams = report(
            &app,
            &mike,
            json!({ "by": "team", "window": "7d", "idle": "share" }),
        )
        .await;
        assert_eq!(keys(&teams), ["payments", "platform"], "{teams}");
        let sum: f64 = teams["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["total"].as_f64())
            .sum();
        assert!(
            close(sum, teams["total"].as_f64().unwrap_or(0.0)),
            "{teams}"
        );
        // By label, hourly over the week, filtered: the six days before today and today's
        // hours to the current one (a window is whole UTC days whatever the step).
        let labelled = report(
            &app,
            &mike,
            json!({ "by": "label", "label": "app", "window": "7d", "step": "hourly", "filter": "platform" }),
        )
        .await;
        assert_eq!(keys(&labelled), ["platform-web"], "{labelled}");
        let made_at = labelled["made_at"].as_i64().unwrap_or(0);
        let hours_today = usize::try_from(made_at.rem_euclid(86_400) / 3_600 + 1).unwrap_or(0);
        assert_eq!(
            labelled["buckets"].as_array().map(Vec::len),
            Some(6 * 24 + hours_today)
        );

        // The CSV is the table: same rows, same order, same figures.
        let csv = app
            .client
            .get(app.url("/api/v1/cost.csv?by=team&window=7d&idle=share"))
            .header(COOKIE, &mike)
            .send()
            .await
            .expect("csv");
        assert_eq!(csv.status(), 200);
        assert!(
            csv.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/csv"))
        );
        let text = csv.text().await.expect("csv text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "group,cluster,cpu,memory,gpu,storage,idle,total,efficiency"
        );
        for (line, g) in lines[1..3]
            .iter()
            .zip(teams["groups"].as_array().into_iter().flatten())
        {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(Some(fields[0]), g["key"].as_str());
            assert_eq!(
                fields[7],
                format!("{:.2}", g["total"].as_f64().unwrap_or(0.0))
            );
        }
        assert!(lines.last().is_some_and(|l| l.starts_with("(total)")));
        let bad = app
            .client
            .get(app.url("/api/v1/cost.csv?by=colour"))
            .header(COOKIE, &mike)
            .send()
            .await
            .expect("bad csv");
        // Parameters that parse but mean nothing: a Problem naming each (RFC 9457).
        assert_eq!(bad.status(), 422);
        let bad: serde_json::Value = bad.json().await.expect("problem");
        assert_eq!(bad["code"], "invalid", "{bad}");
        assert!(
            bad["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot group by \"colour\"")),
            "{bad}"
        );
        let problems = report(&app, &mike, json!({ "by": "colour", "window": "90d" })).await;
        assert_eq!(
            problems["failure"]["fields"].as_array().map(Vec::len),
            Some(2),
            "{problems}"
        );

        // Prices: Dana may not change them (audited); bad prices are named; Ada's new CPU
        // price shows in the next report.
        let mut prices = domain::cost::Prices::default();
        prices.default.cpu_core_hour = 0.05;
        let (status, _) =
            call_raw_path(&app, &dana, SavePrices::PATH, json!({ "prices": prices })).await;
        assert_eq!(status, 403);
        let ada = sign_in(&app, "demo:ada").await;
        let mut bad_prices = prices.clone();
        bad_prices.default.memory_gib_hour = -1.0;
        let refused = call_json(
            &app,
            &ada,
            SavePrices::PATH,
            json!({ "prices": bad_prices }),
        )
        .await;
        assert!(
            refused["failure"]["fields"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("memory GiB-hour")),
            "{refused}"
        );
        let saved = call_json(&app, &ada, SavePrices::PATH, json!({ "prices": prices })).await;
        assert_eq!(saved, json!(null));
        let repriced = report(&app, &dana, json!({ "by": "namespace", "window": "7d" })).await;
        let web = group(&repriced, "payments-web").expect("payments-web");
        assert!(
            close(
                web["cost"]["cpu"].as_f64().unwrap_or(0.0),
                2.0 * 0.5 * HOURS * 0.05
            ),
            "{web}"
        );
        let audit: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor_id, outcome FROM audit_events WHERE action = 'prices.save' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(
            audit,
            [
                ("demo:dana".to_owned(), "denied".to_owned()),
                ("demo:ada".to_owned(), "success".to_owned())
            ]
        );

        // Day sums per workload and price class price a report as every container's day does:
        // an override for the whole home cluster, summed with it, then only its rate changed.
        let home = repriced["clusters"][0]
            .as_str()
            .expect("the home cluster's name")
            .to_owned();
        let mut classed = prices.clone();
        classed.overrides.push(domain::cost::RateOverride {
            cluster: home.clone(),
            label: String::new(),
            value: String::new(),
            rates: domain::cost::Rates {
                cpu_core_hour: 0.08,
                ..prices.default
            },
        });
        let saved = call_json(&app, &ada, SavePrices::PATH, json!({ "prices": classed })).await;
        assert_eq!(saved, json!(null));
        store
            .keep_usage_groups(&classed.matchers(), &home)
            .await
            .expect("sum the groups");
        assert!(
            store
                .usage_groups_fresh(&classed.matchers(), &home)
                .await
                .expect("mark")
        );
        let sums: i64 =
            sqlx::query_scalar("SELECT count(*) FROM usage_daily_groups WHERE class = 1")
                .fetch_one(store.pool())
                .await
                .expect("groups");
        assert!(sums > 0, "the home cluster's nodes are class 1");
        let cpu_at = |r: &Value, rate: f64| {
            let web = group(r, "payments-web").expect("payments-web");
            close(
                web["cost"]["cpu"].as_f64().unwrap_or(0.0),
                2.0 * 0.5 * HOURS * rate,
            )
        };
        // Read line by line (each line's week summed in Postgres with its share of idle), with
        // idle apart and shared.
        let views: Vec<Value> = ["namespace", "team", "workload", "cluster"]
            .iter()
            .flat_map(|by| {
                ["separate", "share"].map(|idle| json!({ "by": by, "window": "7d", "idle": idle }))
            })
            .collect();
        let mut grouped = Vec::new();
        for view in &views {
            let r = report(&app, &mike, view.clone()).await;
            assert!(view["by"] != "namespace" || cpu_at(&r, 0.08), "{r}");
            grouped.push(r);
        }
        // Every series asked for: the same lines, each with its days, adding up to what the
        // chart's lines and "other" add up to.
        let mut all = views[0].clone();
        all["series"] = json!("all");
        let all = report(&app, &mike, all).await;
        assert_eq!(keys(&all), keys(&grouped[0]));
        let steps = |r: &Value| -> Vec<f64> {
            let mut sums: Vec<f64> = r["other_series"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_f64().unwrap_or(0.0))
                .collect();
            sums.resize(7, 0.0);
            for g in r["groups"].as_array().into_iter().flatten() {
                for (i, v) in g["series"].as_array().into_iter().flatten().enumerate() {
                    if let Some(s) = sums.get_mut(i) {
                        *s += v.as_f64().unwrap_or(0.0);
                    }
                }
            }
            sums
        };
        assert!(
            all["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|g| g["series"].as_array().map(Vec::len) == Some(7)),
            "{all}"
        );
        for (a, b) in steps(&all).iter().zip(steps(&grouped[0])) {
            assert!(close(*a, b), "{all} vs {}", grouped[0]);
        }
        assert!(steps(&all).iter().sum::<f64>() > 0.0);
        // Forgotten (as when the matchers change): the container days answer the same.
        sqlx::query("DELETE FROM usage_groups_mark")
            .execute(store.pool())
            .await
            .expect("forget the groups");
        let number = |v: &Value| v.as_f64().unwrap_or(-1.0);
        let numbers =
            |v: &Value| -> Vec<f64> { v.as_array().into_iter().flatten().map(number).collect() };
        for (view, fast) in views.iter().zip(&grouped) {
            let slow = report(&app, &mike, view.clone()).await;
            assert_eq!(keys(&slow), keys(fast), "{view}");
            for field in ["total", "idle", "allocated"] {
                assert!(
                    close(number(&slow[field]), number(&fast[field])),
                    "{view} {field}: {slow} vs {fast}"
                );
            }
            for field in ["idle_series", "other_series"] {
                let (a, b) = (numbers(&slow[field]), numbers(&fast[field]));
                assert_eq!(a.len(), b.len(), "{view} {field}");
                assert!(
                    a.iter().zip(&b).all(|(a, b)| close(*a, *b)),
                    "{view} {field}: {a:?} vs {b:?}"
                );
            }
            for (a, b) in slow["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(fast["groups"].as_array().into_iter().flatten())
            {
                for field in ["total", "idle"] {
                    assert!(
                        close(number(&a[field]), number(&b[field])),
                        "{view}: {a} vs {b}"
                    );
                }
                let (sa, sb) = (numbers(&a["series"]), numbers(&b["series"]));
                assert_eq!(sa.len(), sb.len(), "{view}: {a} vs {b}");
                assert!(
                    sa.iter().zip(&sb).all(|(a, b)| close(*a, *b)),
                    "{view}: {a} vs {b}"
                );
            }
        }
        assert!(
            grouped.iter().any(|r| number(&r["idle"]) > 0.0),
            "some idle to share"
        );
        // A new rate for the same nodes re-prices the sums as they are: nothing summed again.
        store
            .keep_usage_groups(&classed.matchers(), &home)
            .await
            .expect("sum the groups");
        classed.overrides[0].rates.cpu_core_hour = 0.12;
        let saved = call_json(&app, &ada, SavePrices::PATH, json!({ "prices": classed })).await;
        assert_eq!(saved, json!(null));
        assert_eq!(
            store
                .keep_usage_groups(&classed.matchers(), &home)
                .await
                .expect("keep the groups"),
            None,
            "a rate is no reason to sum again"
        );
        let r = report(&app, &mike, json!({ "by": "namespace", "window": "7d" })).await;
        assert!(cpu_at(&r, 0.12), "{r}");
        store.close().await;
        app.stop().await;
    });
}

async fn call_raw(app: &TestApp, cookie: &str, body: Value) -> (u16, String) {
    call_raw_path(app, cookie, CostReport::PATH, body).await
}

async fn call_raw_path(app: &TestApp, cookie: &str, path: &str, body: Value) -> (u16, String) {
    let res = app
        .client
        .post(app.url(path))
        .header(reqwest::header::ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .json(&body)
        .send()
        .await
        .expect("server function");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

#[test]
fn budgets_forecast_the_month_and_warn_the_webhook_once() {
    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_budgets").await;
        let (hook, received) = common::webhook_sink().await;
        let mut config = common::test_config();
        config.usage.budget_webhook_url = Some(hook);
        config.usage.budget_check = Duration::from_secs(1);
        // A cluster of its own: the figures are the cluster's whole cost, which other tests'
        // workloads would move.
        let app = TestApp::spawn_private(&url, config).await;
        let admin = admin_client(&app).await;
        namespace_with_web(&admin, "payments-web", "payments").await;
        wait_scheduled(&admin, Some("payments-web"), 2).await;
        let store = Store::connect(&url, &common::test_config().database)
            .await
            .expect("store");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        server::demo_history::import(&store, &[("", &admin)], &[], 3, now)
            .await
            .expect("history");

        // Who may set a budget, and what a budget is.
        let dana = sign_in(&app, "demo:dana").await;
        let set = |cookie: String, team: &'static str, amount: &'static str| {
            let app = &app;
            async move {
                let res = app
                    .client
                    .post(app.url(app::api::SetBudget::PATH))
                    .header(reqwest::header::ORIGIN, &app.base)
                    .header(COOKIE, cookie)
                    .form(&[("team", team), ("amount", amount)])
                    .send()
                    .await
                    .expect("set budget");
                (res.status().as_u16(), res.text().await.unwrap_or_default())
            }
        };
        let (status, body) = set(dana.clone(), "payments", "100").await;
        assert_eq!(status, 403);
        assert!(body.contains("only managers of team payments"), "{body}");
        let mike = sign_in(&app, "demo:mike").await;
        let (_, body) = set(mike.clone(), "payments", "-5").await;
        assert!(body.contains("zero or more"), "{body}");
        let (status, _) = set(mike.clone(), "platform", "100").await;
        assert_eq!(status, 403, "not Mike's team");
        // A dollar a month: the payments web pods cost more than that in a day.
        let (status, body) = set(mike.clone(), "payments", "1").await;
        assert_eq!((status, body.as_str()), (200, "null"));

        let budgets = call_form(&app, &mike, app::api::TeamBudgets::PATH, &[]).await;
        let payments = budgets
            .as_array()
            .and_then(|b| b.iter().find(|t| t["team"] == "payments"))
            .cloned()
            .unwrap_or_else(|| panic!("{budgets}"));
        assert_eq!(payments["budget"], 1.0);
        assert_eq!(payments["over"], true, "{payments}");
        assert_eq!(payments["can_set"], true);
        let spent = payments["spent"].as_f64().unwrap_or(0.0);
        assert!(spent > 0.0 && payments["forecast"].as_f64().unwrap_or(0.0) >= spent);
        // Dana sees her teams' months, and may not set them.
        let hers = call_form(&app, &dana, app::api::TeamBudgets::PATH, &[]).await;
        assert!(
            hers.as_array()
                .is_some_and(|b| b.iter().all(|t| t["can_set"] == false)),
            "{hers}"
        );

        // The webhook hears about it once, however often the watch looks.
        let deadline = Instant::now() + common::PATIENCE;
        while received.lock().map(|r| r.len()).unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "no budget warning arrived");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let all = received.lock().map(|r| r.clone()).unwrap_or_default();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0]["team"], "payments");
        assert!(
            all[0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Team payments is forecast to spend $")),
            "{all:?}"
        );
        let audit: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor_id, outcome FROM audit_events WHERE action = 'budget.save' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(audit[0], ("demo:dana".to_owned(), "denied".to_owned()));
        assert_eq!(audit.last().map(|a| a.1.as_str()), Some("success"));
        store.close().await;
        app.stop().await;
    });
}

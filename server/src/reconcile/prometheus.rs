//! History from Prometheus, for the hours the sampler never saw (before Berth was installed,
//! or while it was down): when `prometheus.url` is set, one replica (advisory lock) reads
//! `prometheus.backfill_days` before the earliest hour the sampler covered, with PromQL over
//! cAdvisor's `container_cpu_usage_seconds_total` / `container_memory_working_set_bytes` and
//! kube-state-metrics' requests, limits, pod, owner and node series, and imports them as
//! finished hours — the same rows, day sums and node hours the sampler's roll-up writes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use domain::cost::percentile;
use serde::Deserialize;
use serde_json::Value;

use super::usage::Lookups;
use super::{Leadership, PROMETHEUS_LOCK};
use crate::cluster::cache::Caches;
use crate::store::usage::{ContainerSeen, HourRow, NodeSeen};
use crate::store::{Store, StoreError};

const HOUR: i64 = 3_600;

#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Prometheus did not answer {query:?}: {reason}")]
    Query { query: String, reason: String },
    #[error("the cluster's objects are still loading")]
    NotReady,
}

/// One series of a range query: its labels and (unix seconds, value) points.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(i64, f64)>,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// A client of Prometheus' HTTP API.
#[derive(Clone, Debug)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    pub fn new(url: &str) -> Result<Prometheus, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Prometheus {
            base: url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// `query_range` over [start, end] every `step` seconds.
    pub async fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, PromError> {
        let fail = |reason: String| PromError::Query {
            query: query.to_owned(),
            reason,
        };
        let answer: Answer = self
            .http
            .get(format!("{}/api/v1/query_range", self.base))
            .query(&[
                ("query", query.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", step.to_string()),
            ])
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?
            .json()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if answer.status != "success" {
            return Err(fail(answer.error.unwrap_or(answer.status)));
        }
        Ok(answer
            .data
            .map(|d| d.result)
            .unwrap_or_default()
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s
                    .values
                    .into_iter()
                    .filter_map(|(t, v)| Some((t as i64, v.parse::<f64>().ok()?)))
                    .filter(|(_, v)| v.is_finite())
                    .collect(),
            })
            .collect())
    }
}

fn label<'a>(s: &'a Series, name: &str) -> &'a str {
    s.labels.get(name).map_or("", String::as_str)
}

/// (namespace, pod, container) → hour → points.
type Points = HashMap<(String, String, String), BTreeMap<i64, Vec<f64>>>;

fn by_container_hour(series: &[Series]) -> Points {
    let mut out: Points = HashMap::new();
    for s in series {
        let key = (
            label(s, "namespace").to_owned(),
            label(s, "pod").to_owned(),
            label(s, "container").to_owned(),
        );
        let hours = out.entry(key).or_default();
        for &(t, v) in &s.points {
            hours.entry(t.div_euclid(HOUR) * HOUR).or_default().push(v);
        }
    }
    out
}

/// The latest value of each series, keyed by the labels `keys` pick.
fn latest(
    series: &[Series],
    keys: &[&str],
) -> HashMap<Vec<String>, (f64, BTreeMap<String, String>)> {
    series
        .iter()
        .filter_map(|s| {
            let (_, v) = s.points.last()?;
            Some((
                keys.iter().map(|k| label(s, k).to_owned()).collect(),
                (*v, s.labels.clone()),
            ))
        })
        .collect()
}

pub struct Backfill {
    store: Store,
    prometheus: Prometheus,
    caches: Caches,
    labels: Vec<String>,
    days: i64,
    step: i64,
}

impl Backfill {
    pub fn new(
        store: Store,
        prometheus: Prometheus,
        caches: Caches,
        labels: Vec<String>,
        days: i64,
        step: i64,
    ) -> Self {
        Backfill {
            store,
            prometheus,
            caches,
            labels,
            days,
            step,
        }
    }

    /// Runs once (retrying failures every minute), holding its own advisory lock.
    pub async fn run(self) {
        let retry = Duration::from_secs(60);
        let mut lead = loop {
            match Leadership::acquire(&self.store, PROMETHEUS_LOCK, retry).await {
                Ok(lead) => break lead,
                Err(err) => {
                    tracing::warn!(error = %err, "the Prometheus backfill cannot take its lock");
                    tokio::time::sleep(retry).await;
                }
            }
        };
        while lead.still_held().await {
            let now = jiff::Timestamp::now().as_second();
            let result = self.pass(now).await;
            crate::metrics::loop_pass("prometheus_backfill", result.is_ok());
            match result {
                Ok(hours) => {
                    tracing::info!(container_hours = hours, "history read from Prometheus");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading history from Prometheus failed; retrying")
                }
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// Imports what Prometheus holds for [now − days, the sampler's first hour); the
    /// container-hours imported. Public so tests can drive it.
    pub async fn pass(&self, now_unix: i64) -> Result<usize, PromError> {
        if !self.caches.ready().await {
            return Err(PromError::NotReady);
        }
        let this_hour = now_unix.div_euclid(HOUR) * HOUR;
        let covered = self.store.first_usage_hour().await?;
        let from = this_hour - self.days * 24 * HOUR;
        let upto = covered.map_or(this_hour, |c| c.min(this_hour));
        if upto <= from {
            return Ok(0);
        }
        let mut imported = 0;
        // A day at a time: Prometheus caps points per series (11,000), and memory stays flat.
        let mut start = from;
        while start < upto {
            let end = (start + 24 * HOUR).min(upto);
            imported += self.window(start, end).await?;
            start = end;
        }
        Ok(imported)
    }

    /// One window [start, end) of whole hours.
    async fn window(&self, start: i64, end: i64) -> Result<usize, PromError> {
        let step = self.step;
        // Points inside the window only: the range's end is inclusive.
        let last = end - step.max(1);
        let q = |query: &'static str| self.prometheus.range(query, start, last, step);
        let cpu = q("sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!=\"\", container!=\"POD\"}[5m]))").await?;
        let memory = q("sum by (namespace, pod, container) (container_memory_working_set_bytes{container!=\"\", container!=\"POD\"})").await?;
        let requests = q(
            "max by (namespace, pod, container, resource) (kube_pod_container_resource_requests)",
        )
        .await?;
        let limits =
            q("max by (namespace, pod, container, resource) (kube_pod_container_resource_limits)")
                .await?;
        let pods = q("max by (namespace, pod, uid, node) (kube_pod_info)").await?;
        let owners = q("max by (namespace, pod, owner_kind, owner_name) (kube_pod_owner)").await?;
        // Optional: kube-state-metrics exports pod labels only when allowed to; without them
        // the report just cannot group these hours by label.
        let pod_labels = q("max by (namespace, pod) (kube_pod_labels)")
            .await
            .unwrap_or_default();
        let allocatable = q("max by (node, resource) (kube_node_status_allocatable)").await?;
        if cpu.is_empty() && memory.is_empty() {
            return Ok(0);
        }

        let lookups = Lookups::new(
            self.caches.replica_sets.state().iter().map(|r| &r.metadata),
            self.caches.namespaces.state().iter().map(|n| n.as_ref()),
        );
        let requests = latest(&requests, &["namespace", "pod", "container", "resource"]);
        let limits = latest(&limits, &["namespace", "pod", "container", "resource"]);
        let pods = latest(&pods, &["namespace", "pod"]);
        let owners = latest(&owners, &["namespace", "pod"]);
        let pod_labels = latest(&pod_labels, &["namespace", "pod"]);
        let cpu = by_container_hour(&cpu);
        let memory = by_container_hour(&memory);

        let resource = |m: &HashMap<Vec<String>, (f64, BTreeMap<String, String>)>,
                        (ns, pod, c): &(String, String, String),
                        r: &str| {
            m.get(&vec![ns.clone(), pod.clone(), c.clone(), r.to_owned()])
                .map(|(v, _)| *v)
        };
        let mut seen = Vec::with_capacity(cpu.len());
        for key in cpu
            .keys()
            .chain(memory.keys().filter(|k| !cpu.contains_key(*k)))
        {
            let (ns, pod, container) = key;
            let pod_key = vec![ns.clone(), pod.clone()];
            let info = pods.get(&pod_key).map(|(_, l)| l);
            let (owner_kind, owner_name) = match owners.get(&pod_key).map(|(_, l)| l) {
                Some(l) if l.get("owner_kind").is_some_and(|k| k != "<none>") => lookups.workload(
                    ns,
                    l.get("owner_kind").map_or("", String::as_str),
                    l.get("owner_name").map_or("", String::as_str),
                ),
                _ => ("Pod".to_owned(), pod.clone()),
            };
            let kept: serde_json::Map<String, Value> = pod_labels
                .get(&pod_key)
                .map(|(_, l)| {
                    self.labels
                        .iter()
                        .filter_map(|want| {
                            // kube-state-metrics writes `label_<name>` with / . - as _.
                            let key = format!("label_{}", want.replace(['/', '.', '-'], "_"));
                            Some((want.clone(), Value::from(l.get(&key)?.clone())))
                        })
                        .collect()
                })
                .unwrap_or_default();
            seen.push(ContainerSeen {
                // Prometheus' history is the home cluster's (keyed by the empty name).
                cluster: String::new(),
                pod_uid: info
                    .and_then(|l| l.get("uid").cloned())
                    .unwrap_or_else(|| format!("prometheus:{ns}/{pod}")),
                container: container.clone(),
                namespace: ns.clone(),
                pod: pod.clone(),
                node: info
                    .and_then(|l| l.get("node").cloned())
                    .unwrap_or_default(),
                owner_kind,
                owner_name,
                team: lookups.teams.get(ns).cloned(),
                labels: Value::Object(kept),
                cpu_request: resource(&requests, key, "cpu").unwrap_or(0.0),
                cpu_limit: resource(&limits, key, "cpu"),
                memory_request: resource(&requests, key, "memory").unwrap_or(0.0),
                memory_limit: resource(&limits, key, "memory"),
                gpus: resource(&requests, key, "nvidia_com_gpu").unwrap_or(0.0),
            });
        }
        let ids = self.store.register_containers(start as f64, &seen).await?;
        let mut rows = Vec::new();
        let mut node_use: BTreeMap<(i64, String), (f64, f64)> = BTreeMap::new();
        for c in &seen {
            let Some(id) = ids.get(&(c.pod_uid.clone(), c.container.clone())) else {
                continue;
            };
            let key = (c.namespace.clone(), c.pod.clone(), c.container.clone());
            let empty = BTreeMap::new();
            let cpu_hours = cpu.get(&key).unwrap_or(&empty);
            let memory_hours = memory.get(&key).unwrap_or(&empty);
            let hours: std::collections::BTreeSet<i64> = cpu_hours
                .keys()
                .chain(memory_hours.keys())
                .copied()
                .collect();
            for hour in hours {
                let none = Vec::new();
                let cpu = cpu_hours.get(&hour).unwrap_or(&none);
                let memory = memory_hours.get(&hour).unwrap_or(&none);
                let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
                let used = node_use.entry((hour, c.node.clone())).or_default();
                used.0 += avg(cpu);
                used.1 += avg(memory);
                rows.push(HourRow {
                    hour_unix: hour as f64,
                    container_id: *id,
                    samples: i32::try_from(cpu.len().max(memory.len())).unwrap_or(i32::MAX),
                    cpu_avg: avg(cpu) as f32,
                    cpu_max: max(cpu) as f32,
                    cpu_p95: percentile(cpu, 0.95).unwrap_or(0.0) as f32,
                    memory_avg: avg(memory) as f32,
                    memory_max: max(memory) as f32,
                    memory_p95: percentile(memory, 0.95).unwrap_or(0.0) as f32,
                    // One point per step while it ran: the share of the hour it was seen.
                    share: (cpu.len().max(memory.len()) as f64 * step as f64 / 3600.0)
                        .clamp(0.0001, 1.0) as f32,
                });
            }
        }
        // Nodes: allocatable capacity (latest in the window) and their containers' usage, per
        // hour with usage.
        let capacity = latest(&allocatable, &["node", "resource"]);
        let node_labels: HashMap<String, Value> = self
            .caches
            .nodes
            .state()
            .iter()
            .filter_map(|n| {
                Some((
                    n.metadata.name.clone()?,
                    serde_json::to_value(n.metadata.labels.clone().unwrap_or_default()).ok()?,
                ))
            })
            .collect();
        let mut by_hour: BTreeMap<i64, Vec<NodeSeen>> = BTreeMap::new();
        for ((hour, node), (cpu_used, memory_used)) in node_use {
            let cap = |r: &str| {
                capacity
                    .get(&vec![node.clone(), r.to_owned()])
                    .map_or(0.0, |(v, _)| *v)
            };
            if node.is_empty() || cap("cpu") <= 0.0 {
                continue;
            }
            by_hour.entry(hour).or_default().push(NodeSeen {
                labels: node_labels.get(&node).cloned().unwrap_or(Value::Null),
                cpu_capacity: cap("cpu"),
                memory_capacity: cap("memory"),
                gpus: cap("nvidia_com_gpu"),
                cpu_used,
                memory_used,
                node,
            });
        }
        for (hour, nodes) in by_hour {
            self.store
                .record_samples((hour + HOUR / 2) as f64, "", &[], &nodes)
                .await?;
        }
        self.store
            .import_history(&rows, start as f64, end as f64)
            .await?;
        Ok(rows.len())
    }
}

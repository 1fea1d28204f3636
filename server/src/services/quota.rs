//! Quota views, read from the watch caches: namespaces a user may see, with their quota bars,
//! LimitRange defaults, QoS mix and pods running without requests or limits.

use std::collections::{BTreeMap, HashMap};

use domain::authz::{Action, Target, decide};
use domain::capacity::CapacityLine;
use domain::identity::CurrentUser;
use domain::quota::{self, ContainerResources, NamespaceQuota, QosCounts};
use domain::tenancy::{self, ANNOTATION_EXPIRES, LABEL_TEAM};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{ServiceError, Services};
use crate::cluster::pod::{CachedContainer, CachedPod, ResourceList};

fn strings(map: Option<&BTreeMap<String, Quantity>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

fn resources(c: &CachedContainer) -> ContainerResources {
    let list = |l: &ResourceList| l.iter().map(|(k, v)| (k.to_owned(), v.0.clone())).collect();
    ContainerResources {
        requests: list(&c.resources.requests),
        limits: list(&c.resources.limits),
    }
}

/// Pods that are done no longer count against quota or QoS.
pub(crate) fn running(pod: &CachedPod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded") | Some("Failed"))
}

impl Services {
    /// The namespaces `user` may see, near-quota first. SREs and admins see every namespace;
    /// others those labelled with one of their teams.
    pub async fn namespace_quotas(
        &self,
        user: &CurrentUser,
    ) -> Result<Vec<NamespaceQuota>, ServiceError> {
        // The home cluster's caches are waited for, as ever; another cluster's are read as they
        // stand once filled (a cluster down keeps its last lists), never waited on.
        self.cached().await?;
        let actor = user.actor();
        let now = jiff::Timestamp::now().as_second();
        let mut list = Vec::new();
        for member in self.fleet().members() {
            if member.caches.check().ok {
                list.extend(quotas_on(&member.caches, member.name(), &actor, now));
            }
        }
        quota::sort_near_quota_first(&mut list);
        Ok(list)
    }

    /// Allocatable against requested per node of `cluster` (empty: the home cluster), with
    /// stranded capacity, and every cluster's totals rolled up (SREs, managers, admins).
    /// Another cluster's caches are read as they stand once filled: one not answering keeps
    /// its last lists, and its line says since when.
    pub async fn cluster_capacity(
        &self,
        user: &CurrentUser,
        cluster: &str,
    ) -> Result<domain::capacity::ClusterCapacity, ServiceError> {
        if let domain::authz::Decision::Deny(why) =
            decide(&user.actor(), Action::ViewCapacity, &Target::everything())
        {
            return Err(ServiceError::Forbidden(why));
        }
        let chosen = self.member(cluster)?;
        let shown = if chosen.name() == self.fleet().home().name() {
            self.cached().await?
        } else {
            self.cached_on(&chosen).await?
        };
        let mut result = capacity_of(shown);
        result.cluster = chosen.name().to_owned();
        for member in self.fleet().members() {
            let stale_since = member.health().stale_since;
            let line = if member.name() == chosen.name() {
                CapacityLine::of(member.name(), &result, stale_since)
            } else if member.caches.check().ok {
                CapacityLine::of(member.name(), &capacity_of(&member.caches), stale_since)
            } else {
                continue;
            };
            result.fleet.push(line);
        }
        if result.fleet.len() > 1 {
            result.fleet_total = Some(domain::capacity::roll_up(&result.fleet));
        }
        Ok(result)
    }
}

/// Allocatable against requested per node of one cluster's caches, with stranded capacity.
pub(super) fn capacity_of(
    caches: &crate::cluster::cache::Caches,
) -> domain::capacity::ClusterCapacity {
    let parsed = |q: Option<&Quantity>| {
        q.and_then(|q| domain::quantity::parse(&q.0).ok())
            .unwrap_or(0.0)
    };
    let quantity_of =
        |m: Option<&BTreeMap<String, Quantity>>, key: &str| parsed(m.and_then(|m| m.get(key)));
    let mut per_node: HashMap<String, (f64, f64, usize)> = HashMap::new();
    let mut pod_requests = Vec::new();
    for pod in caches.pods.state() {
        if !running(&pod) {
            continue;
        }
        let Some(spec) = pod.spec.as_ref() else {
            continue;
        };
        let (cpu, memory) = spec
            .containers
            .iter()
            .fold((0.0, 0.0), |(c, m), container| {
                let requests = &container.resources.requests;
                (
                    c + parsed(requests.get("cpu")),
                    m + parsed(requests.get("memory")),
                )
            });
        pod_requests.push((cpu, memory));
        if let Some(node) = spec.node_name.as_ref() {
            let entry = per_node.entry(node.clone()).or_default();
            entry.0 += cpu;
            entry.1 += memory;
            entry.2 += 1;
        }
    }
    let nodes: Vec<domain::capacity::NodeInput> = caches
        .nodes
        .state()
        .iter()
        .map(|node| {
            let name = node.metadata.name.clone().unwrap_or_default();
            let alloc = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
            let (cpu, memory, pods) = per_node.get(&name).copied().unwrap_or_default();
            domain::capacity::NodeInput {
                allocatable_cpu: quantity_of(alloc, "cpu"),
                allocatable_memory: quantity_of(alloc, "memory"),
                allocatable_pods: quantity_of(alloc, "pods"),
                requested_cpu: cpu,
                requested_memory: memory,
                pods,
                name,
            }
        })
        .collect();
    let mut result = domain::capacity::capacity(&nodes, &pod_requests);
    result.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    result
}

/// The namespaces of one cluster `actor` may see, with their quota lines, defaults and pods.
fn quotas_on(
    caches: &crate::cluster::cache::Caches,
    cluster: &str,
    actor: &domain::authz::Actor,
    now: i64,
) -> Vec<NamespaceQuota> {
    let mut views: HashMap<String, NamespaceQuota> = HashMap::new();
    for ns in caches.namespaces.state() {
        let Some(name) = ns.metadata.name.clone() else {
            continue;
        };
        let team = ns
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_TEAM))
            .cloned();
        let target = team.as_deref().map(Target::team).unwrap_or_default();
        if !decide(actor, Action::ViewNamespace, &target).allowed() {
            continue;
        }
        let expires_at = ns
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_EXPIRES))
            .filter(|v| v.as_str() != "never")
            .cloned();
        let expiry_warning = expires_at
            .as_deref()
            .and_then(|at| at.parse::<jiff::Timestamp>().ok())
            .and_then(|at| tenancy::expiry_warning(at.as_second() - now));
        views.insert(
            name.clone(),
            NamespaceQuota {
                name,
                cluster: cluster.to_owned(),
                team,
                expires_at,
                expiry_warning,
                quota: Vec::new(),
                fullest: None,
                limit_defaults: Vec::new(),
                pods: 0,
                qos: QosCounts::default(),
                pods_without_limits: Vec::new(),
                pods_without_limits_count: 0,
            },
        );
    }
    for q in caches.quotas.state() {
        let Some(view) = q.metadata.namespace.as_ref().and_then(|n| views.get_mut(n)) else {
            continue;
        };
        let status = q.status.as_ref();
        let hard = strings(
            status
                .and_then(|s| s.hard.as_ref())
                .or(q.spec.as_ref().and_then(|s| s.hard.as_ref())),
        );
        let used = strings(status.and_then(|s| s.used.as_ref()));
        view.quota.extend(quota::lines(&hard, &used));
    }
    for lr in caches.limit_ranges.state() {
        let Some(view) = lr
            .metadata
            .namespace
            .as_ref()
            .and_then(|n| views.get_mut(n))
        else {
            continue;
        };
        for item in lr
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default()
        {
            for (label, values) in [
                ("default request", item.default_request.as_ref()),
                ("default limit", item.default.as_ref()),
            ] {
                for (resource, value) in strings(values) {
                    view.limit_defaults
                        .push((format!("{label} {resource}"), value));
                }
            }
        }
    }
    for pod in caches.pods.state() {
        let Some(view) = pod
            .metadata
            .namespace
            .as_ref()
            .and_then(|n| views.get_mut(n))
        else {
            continue;
        };
        if !running(&pod) {
            continue;
        }
        let containers: Vec<ContainerResources> = pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(resources).collect())
            .unwrap_or_default();
        view.pods += 1;
        view.qos.add(quota::qos_class(&containers));
        if containers.iter().any(quota::lacks_requests_or_limits) {
            view.pods_without_limits_count += 1;
            if view.pods_without_limits.len() < 10 {
                view.pods_without_limits
                    .push(pod.metadata.name.clone().unwrap_or_default());
            }
        }
    }
    views
        .into_values()
        .map(|mut v| {
            v.fullest = quota::fullest(&v.quota);
            v.pods_without_limits.sort();
            v
        })
        .collect()
}

//! Quota views: used against hard per resource, QoS classes, and which namespaces come first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::quantity::{self, Pressure, Unit};

/// One bar: a ResourceQuota resource, used against hard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaLine {
    pub resource: String,
    pub used: String,
    pub hard: String,
    /// Used as a share of hard, 0–100+; `None` when hard is zero.
    pub percent: Option<f64>,
    pub pressure: Pressure,
}

/// The bars of a quota from its `status.hard` and `status.used` (quantity strings). Resources
/// the cluster has not counted yet read as zero used.
pub fn lines(hard: &BTreeMap<String, String>, used: &BTreeMap<String, String>) -> Vec<QuotaLine> {
    hard.iter()
        .map(|(resource, hard_text)| {
            let unit = Unit::of_resource(resource);
            let hard_value = quantity::parse(hard_text).unwrap_or(0.0);
            let used_value = used
                .get(resource)
                .and_then(|u| quantity::parse(u).ok())
                .unwrap_or(0.0);
            let percent = quantity::percent(used_value, hard_value);
            QuotaLine {
                resource: resource.clone(),
                used: quantity::format(used_value, unit),
                hard: quantity::format(hard_value, unit),
                percent,
                pressure: quantity::pressure(percent),
            }
        })
        .collect()
}

/// The highest share of any line: how close the namespace is to being refused.
pub fn fullest(lines: &[QuotaLine]) -> Option<f64> {
    lines
        .iter()
        .map(|l| l.percent.unwrap_or(f64::INFINITY))
        .fold(None, |acc: Option<f64>, p| {
            Some(acc.map_or(p, |a| a.max(p)))
        })
}

/// Kubernetes' quality-of-service classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// One container's requests and limits (quantity strings by resource name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerResources {
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

/// The class the kubelet gives a pod, from its containers, as `kubectl describe` shows it.
pub fn qos_class(containers: &[ContainerResources]) -> QosClass {
    let relevant = |m: &BTreeMap<String, String>| {
        m.iter()
            .filter(|(k, _)| k.as_str() == "cpu" || k.as_str() == "memory")
            .filter(|(_, v)| quantity::parse(v).is_ok_and(|q| q > 0.0))
            .count()
    };
    if containers
        .iter()
        .all(|c| relevant(&c.requests) == 0 && relevant(&c.limits) == 0)
    {
        return QosClass::BestEffort;
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = c.limits.get(*r).and_then(|v| quantity::parse(v).ok());
            // A request left out defaults to the limit.
            let request = c
                .requests
                .get(*r)
                .and_then(|v| quantity::parse(v).ok())
                .or(limit);
            matches!((request, limit), (Some(q), Some(l)) if l > 0.0 && (q - l).abs() < 1e-9)
        })
    });
    if guaranteed {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// Whether a container runs without the requests and limits the seeds ask for.
pub fn lacks_requests_or_limits(c: &ContainerResources) -> bool {
    ["cpu", "memory"]
        .iter()
        .any(|r| !c.requests.contains_key(*r) || !c.limits.contains_key(*r))
}

/// How many pods of a namespace fall in each QoS class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QosCounts {
    pub guaranteed: usize,
    pub burstable: usize,
    pub best_effort: usize,
}

impl QosCounts {
    pub fn add(&mut self, class: QosClass) {
        match class {
            QosClass::Guaranteed => self.guaranteed += 1,
            QosClass::Burstable => self.burstable += 1,
            QosClass::BestEffort => self.best_effort += 1,
        }
    }
}

/// A namespace as the quota view shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceQuota {
    pub name: String,
    /// The cluster it lives on (its fleet name).
    #[serde(default)]
    pub cluster: String,
    pub team: Option<String>,
    pub expires_at: Option<String>,
    pub expiry_warning: Option<String>,
    /// Every line of every ResourceQuota in it.
    pub quota: Vec<QuotaLine>,
    pub fullest: Option<f64>,
    /// LimitRange defaults, e.g. `default cpu` → `500m`.
    pub limit_defaults: Vec<(String, String)>,
    pub pods: usize,
    pub qos: QosCounts,
    /// Pods with a container lacking requests or limits (names, at most ten).
    pub pods_without_limits: Vec<String>,
    pub pods_without_limits_count: usize,
}

/// Near-quota namespaces first (fullest share descending), then by name.
pub fn sort_near_quota_first(list: &mut [NamespaceQuota]) {
    list.sort_by(|a, b| {
        let key = |n: &NamespaceQuota| n.fullest.unwrap_or(-1.0);
        key(b)
            .partial_cmp(&key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.cluster.cmp(&b.cluster))
    });
}

/// Sums over a set of namespaces: a team's, or every one the viewer may see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollup {
    /// The team, or `None` for the whole set.
    pub team: Option<String>,
    pub namespaces: usize,
    /// Namespaces at 80 % or more of some quota.
    pub near_quota: usize,
    pub pods: usize,
    pub qos: QosCounts,
    pub pods_without_limits: usize,
    /// Each quota resource summed over the namespaces that have it: used against hard.
    pub quota: Vec<QuotaLine>,
    pub fullest: Option<f64>,
}

fn rollup(team: Option<String>, list: &[&NamespaceQuota]) -> Rollup {
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut qos = QosCounts::default();
    for ns in list {
        for line in &ns.quota {
            let used = quantity::parse(&line.used).unwrap_or(0.0);
            let hard = quantity::parse(&line.hard).unwrap_or(0.0);
            let sum = sums.entry(line.resource.clone()).or_default();
            sum.0 += used;
            sum.1 += hard;
        }
        qos.guaranteed += ns.qos.guaranteed;
        qos.burstable += ns.qos.burstable;
        qos.best_effort += ns.qos.best_effort;
    }
    let quota: Vec<QuotaLine> = sums
        .into_iter()
        .map(|(resource, (used, hard))| {
            let unit = Unit::of_resource(&resource);
            let percent = quantity::percent(used, hard);
            QuotaLine {
                used: quantity::format(used, unit),
                hard: quantity::format(hard, unit),
                percent,
                pressure: quantity::pressure(percent),
                resource,
            }
        })
        .collect();
    Rollup {
        team,
        namespaces: list.len(),
        near_quota: list
            .iter()
            .filter(|ns| ns.fullest.is_some_and(|f| f >= 80.0))
            .count(),
        pods: list.iter().map(|ns| ns.pods).sum(),
        qos,
        pods_without_limits: list.iter().map(|ns| ns.pods_without_limits_count).sum(),
        fullest: fullest(&quota),
        quota,
    }
}

/// One roll-up per team (teams with namespaces near quota first, then by name; namespaces
/// without a team under `None` last) and one over the whole list.
pub fn rollups(list: &[NamespaceQuota]) -> (Vec<Rollup>, Rollup) {
    let mut by_team: BTreeMap<Option<&str>, Vec<&NamespaceQuota>> = BTreeMap::new();
    for ns in list {
        by_team.entry(ns.team.as_deref()).or_default().push(ns);
    }
    let mut teams: Vec<Rollup> = by_team
        .into_iter()
        .map(|(team, members)| rollup(team.map(str::to_owned), &members))
        .collect();
    teams.sort_by(|a, b| {
        a.team
            .is_none()
            .cmp(&b.team.is_none())
            .then_with(|| b.near_quota.cmp(&a.near_quota))
            .then_with(|| a.team.cmp(&b.team))
    });
    let all: Vec<&NamespaceQuota> = list.iter().collect();
    (teams, rollup(None, &all))
}

/// One roll-up per cluster, by cluster name; empty when the list is all one cluster's.
pub fn cluster_rollups(list: &[NamespaceQuota]) -> Vec<(String, Rollup)> {
    let mut by_cluster: BTreeMap<&str, Vec<&NamespaceQuota>> = BTreeMap::new();
    for ns in list {
        by_cluster.entry(ns.cluster.as_str()).or_default().push(ns);
    }
    if by_cluster.len() < 2 {
        return Vec::new();
    }
    by_cluster
        .into_iter()
        .map(|(cluster, members)| (cluster.to_owned(), rollup(None, &members)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::pairs as map;

    #[test]
    fn lines_compare_used_with_hard_in_readable_units() {
        let hard = map(&[
            ("requests.cpu", "2"),
            ("requests.memory", "4Gi"),
            ("pods", "20"),
        ]);
        let used = map(&[("requests.cpu", "1700m"), ("requests.memory", "1Gi")]);
        let lines = lines(&hard, &used);
        let cpu = &lines[1];
        assert_eq!(cpu.resource, "requests.cpu");
        assert_eq!((cpu.used.as_str(), cpu.hard.as_str()), ("1.7", "2"));
        assert!((cpu.percent.unwrap_or(0.0) - 85.0).abs() < 1e-9);
        assert_eq!(cpu.pressure, Pressure::Near);
        let memory = &lines[2];
        assert_eq!((memory.used.as_str(), memory.hard.as_str()), ("1Gi", "4Gi"));
        assert_eq!(memory.pressure, Pressure::Normal);
        let pods = &lines[0];
        assert_eq!(pods.used, "0", "not yet counted reads as zero");
        assert!((fullest(&lines).unwrap_or(0.0) - 85.0).abs() < 1e-9);
    }

    #[test]
    fn qos_classes_follow_the_kubelet() {
        let guaranteed = ContainerResources {
            requests: map(&[("cpu", "500m"), ("memory", "256Mi")]),
            limits: map(&[("cpu", "0.5"), ("memory", "256Mi")]),
        };
        assert_eq!(
            qos_class(std::slice::from_ref(&guaranteed)),
            QosClass::Guaranteed
        );
        let limits_only = ContainerResources {
            requests: BTreeMap::new(),
            limits: map(&[("cpu", "1"), ("memory", "1Gi")]),
        };
        assert_eq!(qos_class(&[limits_only]), QosClass::Guaranteed);
        let burstable = ContainerResources {
            requests: map(&[("cpu", "100m")]),
            limits: BTreeMap::new(),
        };
        assert_eq!(
            qos_class(&[guaranteed, burstable.clone()]),
            QosClass::Burstable
        );
        assert_eq!(
            qos_class(&[ContainerResources::default()]),
            QosClass::BestEffort
        );
        assert!(lacks_requests_or_limits(&burstable));
    }

    #[test]
    fn near_quota_namespaces_come_first() {
        let ns = |name: &str, fullest: Option<f64>| NamespaceQuota {
            name: name.to_owned(),
            cluster: String::new(),
            team: None,
            expires_at: None,
            expiry_warning: None,
            quota: Vec::new(),
            fullest,
            limit_defaults: Vec::new(),
            pods: 0,
            qos: QosCounts::default(),
            pods_without_limits: Vec::new(),
            pods_without_limits_count: 0,
        };
        let mut list = vec![
            ns("b", Some(10.0)),
            ns("a", None),
            ns("c", Some(95.0)),
            ns("d", Some(10.0)),
        ];
        sort_near_quota_first(&mut list);
        let names: Vec<&str> = list.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "d", "a"]);
    }

    fn ns(name: &str, team: Option<&str>, cpu: (&str, &str), pods: usize) -> NamespaceQuota {
        let quota = lines(
            &map(&[("requests.cpu", cpu.1), ("pods", "10")]),
            &map(&[("requests.cpu", cpu.0), ("pods", &pods.to_string())]),
        );
        NamespaceQuota {
            name: name.to_owned(),
            cluster: String::new(),
            team: team.map(str::to_owned),
            expires_at: None,
            expiry_warning: None,
            fullest: fullest(&quota),
            quota,
            limit_defaults: Vec::new(),
            pods,
            qos: QosCounts {
                guaranteed: pods,
                ..QosCounts::default()
            },
            pods_without_limits: Vec::new(),
            pods_without_limits_count: 1,
        }
    }

    #[test]
    fn rollups_sum_by_team_and_put_teams_near_quota_first() {
        let list = vec![
            ns("a-1", Some("alpha"), ("500m", "2"), 1),
            ns("a-2", Some("alpha"), ("1", "2"), 2),
            ns("b-1", Some("beta"), ("1800m", "2"), 3),
            ns("loose", None, ("0", "1"), 0),
        ];
        let (teams, all) = rollups(&list);
        let order: Vec<Option<&str>> = teams.iter().map(|t| t.team.as_deref()).collect();
        assert_eq!(
            order,
            [Some("beta"), Some("alpha"), None],
            "beta is at 90 %"
        );
        let alpha = &teams[1];
        assert_eq!((alpha.namespaces, alpha.pods, alpha.near_quota), (2, 3, 0));
        let cpu = alpha
            .quota
            .iter()
            .find(|l| l.resource == "requests.cpu")
            .expect("cpu");
        assert_eq!((cpu.used.as_str(), cpu.hard.as_str()), ("1.5", "4"));
        assert!((cpu.percent.unwrap_or(0.0) - 37.5).abs() < 1e-9);
        assert_eq!(teams[0].near_quota, 1);
        assert_eq!(
            (all.namespaces, all.pods, all.pods_without_limits),
            (4, 6, 4)
        );
        let pods = all
            .quota
            .iter()
            .find(|l| l.resource == "pods")
            .expect("pods");
        assert_eq!((pods.used.as_str(), pods.hard.as_str()), ("6", "40"));
        assert_eq!(all.qos.guaranteed, 6);
    }

    #[test]
    fn clusters_roll_up_apart_and_together() {
        let mut eu = ns("shop", Some("payments"), ("1", "2"), 3);
        eu.cluster = "eu-prod".to_owned();
        let mut us = ns("shop-us", Some("payments"), ("500m", "2"), 1);
        us.cluster = "us-dev".to_owned();
        assert!(cluster_rollups(std::slice::from_ref(&eu)).is_empty());
        let list = vec![eu, us];
        let by = cluster_rollups(&list);
        let names: Vec<&str> = by.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, ["eu-prod", "us-dev"]);
        assert_eq!(by[0].1.pods, 3);
        assert_eq!(by[1].1.pods, 1);
        let (teams, all) = rollups(&list);
        assert_eq!(teams.len(), 1, "a team across clusters is one team");
        assert_eq!(all.pods, 4);
        let cpu = all
            .quota
            .iter()
            .find(|l| l.resource == "requests.cpu")
            .expect("cpu");
        assert_eq!((cpu.used.as_str(), cpu.hard.as_str()), ("1.5", "4"));
    }
}

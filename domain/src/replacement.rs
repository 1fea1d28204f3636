//! How a workload replaces its pods when their template changes, and whether a change of
//! requests can get through the namespace's quota. A Deployment at its quota whose rollout
//! must add a new pod before it removes an old one never moves: every new pod is refused
//! (`FailedCreate: exceeded quota`) and the old ones stay. Berth checks before it applies.

use std::collections::BTreeMap;

use crate::quantity::{Unit, format, parse};

/// How many pods a rollout may add above the replicas (`surge`) and take away first
/// (`unavailable`), resolved for the replica count as the controllers resolve them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub replicas: i32,
    pub surge: i32,
    pub unavailable: i32,
}

/// A rollout bound as the API spells it: `"25%"` or `"1"`.
fn resolve(text: Option<&str>, replicas: i32, round_up: bool) -> Result<i32, String> {
    let text = text.unwrap_or("25%").trim();
    if let Some(percent) = text.strip_suffix('%') {
        let p: i64 = percent
            .parse()
            .map_err(|_| format!("{text:?} is not a number or a percentage"))?;
        let scaled = i64::from(replicas) * p;
        let n = if round_up {
            (scaled + 99).div_euclid(100)
        } else {
            scaled.div_euclid(100)
        };
        return i32::try_from(n.max(0)).map_err(|_| format!("{text:?} is out of range"));
    }
    text.parse::<i32>()
        .map(|n| n.max(0))
        .map_err(|_| format!("{text:?} is not a number or a percentage"))
}

impl Replacement {
    /// A Deployment's strategy: `Recreate` removes every pod first; a rolling update's
    /// `maxSurge` rounds up and `maxUnavailable` down (both 25% when unset), and when both come
    /// to 0 the controller takes one away (as `deployment/util.ResolveFenceposts` does).
    pub fn deployment(
        replicas: i32,
        recreate: bool,
        max_surge: Option<&str>,
        max_unavailable: Option<&str>,
    ) -> Result<Replacement, String> {
        if recreate {
            return Ok(Replacement {
                replicas,
                surge: 0,
                unavailable: replicas,
            });
        }
        let surge = resolve(max_surge, replicas, true)?;
        let mut unavailable = resolve(max_unavailable, replicas, false)?;
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        Ok(Replacement {
            replicas,
            surge,
            unavailable,
        })
    }

    /// A StatefulSet or DaemonSet by default: one pod deleted, then its successor created.
    pub fn one_at_a_time(replicas: i32) -> Replacement {
        Replacement {
            replicas,
            surge: 0,
            unavailable: 1,
        }
    }
}

/// Whether replacing `name`'s pods, each asking `old` now and `new` after (by quota
/// resource: `requests.cpu`, `limits.memory`, …), fits the quota's `hard` and `used`. Two
/// moments count: the first step of the rollout (when it must add a pod before removing
/// one, that pod needs room on top of what is used) and the end (every replica at `new`).
/// `Err` says which resource runs out, in numbers, and what to do.
pub fn template_change_fits(
    name: &str,
    how: Replacement,
    old: &BTreeMap<String, f64>,
    new: &BTreeMap<String, f64>,
    hard: &BTreeMap<String, String>,
    used: &BTreeMap<String, String>,
) -> Result<(), String> {
    if how.replicas <= 0 {
        return Ok(());
    }
    let mut new_pod = new.clone();
    new_pod.insert("pods".to_owned(), 1.0);
    for (resource, limit) in hard {
        let Ok(limit) = parse(limit) else {
            continue;
        };
        let in_use = used
            .get(resource)
            .and_then(|u| parse(u).ok())
            .unwrap_or(0.0);
        let free = limit - in_use;
        let show = |v: f64| format(v, Unit::of_resource(resource));
        let each_new = new_pod.get(resource).copied().unwrap_or(0.0);
        if how.unavailable == 0 && each_new > free + 1e-9 {
            let needs = if resource == "pods" {
                "a place under the pod count".to_owned()
            } else {
                format!("{} {resource}", show(each_new))
            };
            return Err(format!(
                "{name} adds a new pod before it removes an old one (maxUnavailable is 0), and that pod needs {needs}, but the quota has {} left ({} of {} used): the rollout would stop at its first pod. Raise the quota or free {} {resource} first; nothing was changed",
                show(free.max(0.0)),
                show(in_use),
                show(limit),
                show(each_new - free.max(0.0)),
            ));
        }
        let each_old = old.get(resource).copied().unwrap_or(0.0);
        let more = (each_new - each_old) * f64::from(how.replicas);
        if resource != "pods" && more > free + 1e-9 {
            return Err(format!(
                "{name}'s {} pods would need {} more {resource}, but the quota has {} left ({} of {} used). Raise the quota first; nothing was changed",
                how.replicas,
                show(more),
                show(free.max(0.0)),
                show(in_use),
                show(limit),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::pairs as map;

    fn per_pod(cpu: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("requests.cpu".to_owned(), cpu)])
    }

    #[test]
    fn bounds_resolve_as_the_deployment_controller_does() {
        let r = Replacement::deployment(2, false, None, None).expect("defaults");
        assert_eq!((r.surge, r.unavailable), (1, 0));
        let r = Replacement::deployment(10, false, None, None).expect("defaults");
        assert_eq!((r.surge, r.unavailable), (3, 2));
        let r = Replacement::deployment(4, false, Some("0"), Some("0%")).expect("fencepost");
        assert_eq!((r.surge, r.unavailable), (0, 1));
        let r = Replacement::deployment(4, true, None, None).expect("recreate");
        assert_eq!((r.surge, r.unavailable), (0, 4));
        assert!(Replacement::deployment(4, false, Some("lots"), None).is_err());
        let r = Replacement::deployment(i32::MAX, false, Some("100%"), None).expect("big");
        assert_eq!(r.surge, i32::MAX);
    }

    #[test]
    fn a_surge_pod_without_room_is_refused_even_when_requests_go_down() {
        // The demo's payments-prod: 9 CPU used of 6; fraud-scorer goes from 2 CPU to 150m.
        let how = Replacement::deployment(2, false, None, None).expect("defaults");
        let hard = map(&[("requests.cpu", "6"), ("pods", "40")]);
        let used = map(&[("requests.cpu", "9"), ("pods", "9")]);
        let refused = template_change_fits(
            "fraud-scorer",
            how,
            &per_pod(2.0),
            &per_pod(0.15),
            &hard,
            &used,
        )
        .expect_err("no room for the first new pod");
        assert!(refused.contains("150m requests.cpu"), "{refused}");
        assert!(refused.contains("0 left (9 of 6 used)"), "{refused}");
        assert!(refused.contains("nothing was changed"), "{refused}");
        // Taking an old pod away first needs no room: it goes through.
        let first = Replacement {
            unavailable: 1,
            ..how
        };
        assert_eq!(
            template_change_fits(
                "fraud-scorer",
                first,
                &per_pod(2.0),
                &per_pod(0.15),
                &hard,
                &used
            ),
            Ok(())
        );
    }

    #[test]
    fn the_pod_count_counts_for_the_surge_pod() {
        let how = Replacement::deployment(2, false, None, None).expect("defaults");
        let hard = map(&[("pods", "2")]);
        let used = map(&[("pods", "2")]);
        let refused = template_change_fits("web", how, &per_pod(1.0), &per_pod(0.5), &hard, &used)
            .expect_err("no pod left");
        assert!(refused.contains("a place under the pod count"), "{refused}");
    }

    #[test]
    fn more_requests_must_fit_when_every_replica_has_them() {
        let how = Replacement::one_at_a_time(3);
        let hard = map(&[("requests.cpu", "4")]);
        let used = map(&[("requests.cpu", "3")]);
        assert_eq!(
            template_change_fits("db", how, &per_pod(1.0), &per_pod(1.3), &hard, &used),
            Ok(())
        );
        let refused = template_change_fits("db", how, &per_pod(1.0), &per_pod(1.5), &hard, &used)
            .expect_err("1.5 more of 1 left");
        assert!(refused.contains("1.5 more requests.cpu"), "{refused}");
        // Resources the quota does not limit, and nothing to replace, always fit.
        assert_eq!(
            template_change_fits(
                "db",
                how,
                &per_pod(1.0),
                &per_pod(9.0),
                &BTreeMap::new(),
                &used
            ),
            Ok(())
        );
        let none = Replacement::one_at_a_time(0);
        assert_eq!(
            template_change_fits("db", none, &per_pod(1.0), &per_pod(9.0), &hard, &used),
            Ok(())
        );
    }
}

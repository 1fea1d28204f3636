//! The unused-object scan: every interval it lists what the watch caches do not hold
//! (ConfigMaps, Secrets, ServiceAccounts, Ingresses, volumes, Jobs, CronJobs, Services and
//! their Endpoints), gathers every
//! reference from pod templates — of workloads at any replica count, Jobs and CronJobs — and
//! lets the domain decide what nothing uses, on every cluster of the fleet. The idle report
//! reads the stored result, so no page lists a cluster. One replica scans (advisory lock).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use domain::unused::{
    self, Claim, ConfigObject, JobInfo, ServiceAccountRefs, ServiceInfo, StatefulClaims, Unused,
    Uses, Volume,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, PersistentVolume, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, ListParams};

use super::{Leadership, UNUSED_LOCK};
use crate::cluster::Cluster;
use crate::cluster::cache::Caches;
use crate::cluster::fleet::Fleet;
use crate::cluster::pod::template_refs;
use crate::store::{Store, StoreError};

const DAY: f64 = 86_400.0;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cluster did not answer: {0}")]
    Cluster(String),
    #[error("the cluster's objects are still loading")]
    NotReady,
}

pub struct UnusedScan {
    store: Store,
    fleet: Fleet,
    interval: Duration,
    /// Days an object must exist before it can be called unused.
    grace_days: f64,
}

fn days_since(t: Option<&Time>, now: f64) -> f64 {
    t.map_or(0.0, |t| (now - t.0.as_second() as f64) / DAY)
}

fn age(meta: &ObjectMeta, now: f64) -> u32 {
    days_since(meta.creation_timestamp.as_ref(), now).max(0.0) as u32
}

impl UnusedScan {
    pub fn new(store: Store, fleet: Fleet, interval: Duration, grace_days: f64) -> Self {
        UnusedScan {
            store,
            fleet,
            interval,
            grace_days,
        }
    }

    /// Runs until dropped, holding its own advisory lock.
    pub async fn run(self) {
        loop {
            let mut lead = match Leadership::acquire(&self.store, UNUSED_LOCK, self.interval).await
            {
                Ok(lead) => lead,
                Err(err) => {
                    tracing::warn!(error = %err, "unused scan cannot take its lock");
                    tokio::time::sleep(self.interval).await;
                    continue;
                }
            };
            while lead.still_held().await {
                let result = self.pass().await;
                if let Err(err) = &result {
                    tracing::warn!(error = %err, "unused scan failed");
                }
                crate::metrics::loop_pass("unused_scan", result.is_ok());
                tokio::time::sleep(super::next_pass(result.is_ok(), self.interval)).await;
            }
        }
    }

    /// One scan of every cluster in the fleet; how many unused objects it found. A cluster
    /// that fails keeps what its last scan found (the error is the pass's, after the others
    /// are scanned); what was found on clusters since removed is forgotten.
    pub async fn pass(&self) -> Result<usize, ScanError> {
        // One price for every cluster's volumes, read once a pass.
        let storage = self.store.prices().await?.storage_gib_month;
        let mut keys = Vec::new();
        let mut found = 0;
        let mut failed = None;
        for member in self.fleet.members() {
            let key = self.fleet.storage_key(member.name()).to_owned();
            // The home cluster's caches are waited for; another's are scanned once filled.
            let ready = if key.is_empty() {
                member.caches.ready().await
            } else {
                member.caches.check().ok
            };
            let scanned = if ready {
                self.scan(&member.cluster, &member.caches, storage).await
            } else {
                Err(ScanError::NotReady)
            };
            match scanned {
                Ok(objects) => {
                    self.store.replace_unused(&key, &objects).await?;
                    found += objects.len();
                }
                Err(err) => {
                    tracing::warn!(cluster = member.name(), error = %err, "unused scan of a cluster failed");
                    failed.get_or_insert(err);
                }
            }
            keys.push(key);
        }
        self.store.keep_unused_of(&keys).await?;
        match failed {
            Some(err) => Err(err),
            None => Ok(found),
        }
    }

    /// What nothing uses on one cluster, volumes priced at `storage` per GiB-month.
    async fn scan(
        &self,
        cluster: &Cluster,
        caches: &Caches,
        storage: f64,
    ) -> Result<Vec<Unused>, ScanError> {
        async fn all<K>(cluster: &Cluster) -> Result<Vec<K>, ScanError>
        where
            K: kube::Resource<DynamicType = ()>
                + Clone
                + std::fmt::Debug
                + serde::de::DeserializeOwned,
        {
            Api::<K>::all(cluster.client().clone())
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .map_err(|e| ScanError::Cluster(e.to_string()))
        }
        let now = jiff::Timestamp::now().as_second() as f64;
        // Metadata is all the scan reads of these: never hold a Secret's data (nor every
        // ConfigMap's) in memory. Secrets of the types controllers own are left out by the API
        // server itself, as the metadata does not say a Secret's type.
        let config_maps = cluster
            .list_metadata::<ConfigMap>("")
            .await
            .map_err(|e| ScanError::Cluster(e.to_string()))?;
        let not_managed = unused::MANAGED_SECRET_TYPES
            .iter()
            .map(|t| format!("type!={t}"))
            .collect::<Vec<_>>()
            .join(",");
        let secrets = cluster
            .list_metadata::<Secret>(&not_managed)
            .await
            .map_err(|e| ScanError::Cluster(e.to_string()))?;
        let accounts: Vec<ServiceAccount> = all(cluster).await?;
        let ingresses: Vec<Ingress> = all(cluster).await?;
        let volumes: Vec<PersistentVolume> = all(cluster).await?;
        let job_objects: Vec<Job> = all(cluster).await?;
        let cron_jobs: Vec<CronJob> = all(cluster).await?;

        let mut templates = caches.template_refs();
        let mut add = |meta: &ObjectMeta, spec: Option<&PodSpec>| {
            if let (Some(ns), Some(spec)) = (meta.namespace.as_deref(), spec) {
                templates.push(template_refs(ns, spec));
            }
        };
        for j in &job_objects {
            add(
                &j.metadata,
                j.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
            );
        }
        for c in &cron_jobs {
            add(
                &c.metadata,
                c.spec
                    .job_template
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref()),
            );
        }
        let account_refs: Vec<ServiceAccountRefs> = accounts
            .iter()
            .map(|a| ServiceAccountRefs {
                namespace: a.metadata.namespace.clone().unwrap_or_default(),
                name: a.metadata.name.clone().unwrap_or_default(),
                secrets: a
                    .secrets
                    .iter()
                    .flatten()
                    .filter_map(|s| s.name.clone())
                    .collect(),
                image_pull_secrets: a
                    .image_pull_secrets
                    .iter()
                    .flatten()
                    .map(|s| s.name.clone())
                    .collect(),
            })
            .collect();
        let tls: Vec<(String, String)> = ingresses
            .iter()
            .flat_map(|i| {
                let ns = i.metadata.namespace.clone().unwrap_or_default();
                i.spec
                    .iter()
                    .flat_map(|s| s.tls.iter().flatten())
                    .filter_map(move |t| Some((ns.clone(), t.secret_name.clone()?)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let uses = Uses::gather(&templates, &account_refs, &tls);

        let managed = |meta: &ObjectMeta| {
            meta.owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty())
                || meta
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("kubernetes.io/service-account.name"))
        };
        let mut objects: Vec<ConfigObject> = config_maps
            .iter()
            .map(|c| ConfigObject {
                secret: false,
                namespace: c.metadata.namespace.clone().unwrap_or_default(),
                name: c.metadata.name.clone().unwrap_or_default(),
                secret_type: None,
                managed: managed(&c.metadata),
                age_days: age(&c.metadata, now),
            })
            .collect();
        objects.extend(secrets.iter().map(|s| ConfigObject {
            secret: true,
            namespace: s.metadata.namespace.clone().unwrap_or_default(),
            name: s.metadata.name.clone().unwrap_or_default(),
            // Listed without the managed types (above).
            secret_type: None,
            managed: managed(&s.metadata),
            age_days: age(&s.metadata, now),
        }));
        let mut found = unused::unused_config(&objects, &uses, self.grace_days);

        let claims: Vec<Claim> = caches
            .claims
            .state()
            .iter()
            .filter_map(|c| {
                let size = c
                    .spec
                    .as_ref()?
                    .resources
                    .as_ref()?
                    .requests
                    .as_ref()?
                    .get("storage")?;
                Some(Claim {
                    namespace: c.metadata.namespace.clone()?,
                    name: c.metadata.name.clone()?,
                    bytes: domain::quantity::parse(&size.0).ok()?,
                    age_days: age(&c.metadata, now),
                })
            })
            .collect();
        let sets: Vec<StatefulClaims> = caches
            .stateful_sets
            .state()
            .iter()
            .map(|s| StatefulClaims {
                namespace: s.metadata.namespace.clone().unwrap_or_default(),
                name: s.metadata.name.clone().unwrap_or_default(),
                templates: s
                    .spec
                    .volume_claim_templates
                    .iter()
                    .flatten()
                    .filter_map(|t| t.metadata.name.clone())
                    .collect(),
                replicas: s.spec.replicas.unwrap_or(1).max(0) as u32,
            })
            .collect();
        found.extend(unused::unused_claims(
            &claims,
            &uses,
            &sets,
            storage,
            self.grace_days,
        ));
        let volumes: Vec<Volume> = volumes
            .iter()
            .map(|v| Volume {
                name: v.metadata.name.clone().unwrap_or_default(),
                phase: v
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default(),
                bytes: v
                    .spec
                    .as_ref()
                    .and_then(|s| s.capacity.as_ref())
                    .and_then(|c| c.get("storage"))
                    .and_then(|q| domain::quantity::parse(&q.0).ok())
                    .unwrap_or(0.0),
                age_days: age(&v.metadata, now),
            })
            .collect();
        found.extend(unused::unused_volumes(&volumes, storage, self.grace_days));
        let jobs: Vec<JobInfo> = job_objects
            .iter()
            .map(|j| {
                let status = j.status.as_ref();
                let finished = status.and_then(|s| s.completion_time.as_ref()).or_else(|| {
                    status
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|cs| {
                            cs.iter()
                                .find(|c| c.type_ == "Failed" && c.status == "True")
                        })
                        .and_then(|c| c.last_transition_time.as_ref())
                });
                JobInfo {
                    namespace: j.metadata.namespace.clone().unwrap_or_default(),
                    name: j.metadata.name.clone().unwrap_or_default(),
                    finished_days: finished.map(|t| days_since(Some(t), now)),
                    failed: status.and_then(|s| s.failed).unwrap_or(0) > 0
                        && status.and_then(|s| s.succeeded).unwrap_or(0) == 0,
                    from_cron_job: j
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.kind == "CronJob"),
                    has_ttl: j
                        .spec
                        .as_ref()
                        .is_some_and(|s| s.ttl_seconds_after_finished.is_some()),
                }
            })
            .collect();
        found.extend(unused::left_behind_jobs(&jobs));
        let histories: Vec<(String, String, i32, i32)> = cron_jobs
            .iter()
            .map(|c| {
                (
                    c.metadata.namespace.clone().unwrap_or_default(),
                    c.metadata.name.clone().unwrap_or_default(),
                    c.spec.successful_jobs_history_limit.unwrap_or(3),
                    c.spec.failed_jobs_history_limit.unwrap_or(1),
                )
            })
            .collect();
        found.extend(unused::long_history_cron_jobs(&histories));

        // Services routing to nothing: ready addresses in their Endpoints.
        let services: Vec<Service> = all(cluster).await?;
        let endpoints: Vec<Endpoints> = all(cluster).await?;
        let ready: HashMap<(String, String), u32> = endpoints
            .iter()
            .map(|e| {
                let count: usize = e
                    .subsets
                    .iter()
                    .flatten()
                    .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
                    .sum();
                (
                    (
                        e.metadata.namespace.clone().unwrap_or_default(),
                        e.metadata.name.clone().unwrap_or_default(),
                    ),
                    u32::try_from(count).unwrap_or(u32::MAX),
                )
            })
            .collect();
        let infos: Vec<ServiceInfo> = services
            .iter()
            .map(|s| {
                let namespace = s.metadata.namespace.clone().unwrap_or_default();
                let name = s.metadata.name.clone().unwrap_or_default();
                ServiceInfo {
                    ready_endpoints: ready
                        .get(&(namespace.clone(), name.clone()))
                        .copied()
                        .unwrap_or(0),
                    service_type: s
                        .spec
                        .as_ref()
                        .and_then(|spec| spec.type_.clone())
                        .unwrap_or_else(|| "ClusterIP".to_owned()),
                    age_days: age(&s.metadata, now),
                    namespace,
                    name,
                }
            })
            // The API server's own Service has hand-kept endpoints outside any team.
            .filter(|i| !(i.namespace == "default" && i.name == "kubernetes"))
            .collect();
        found.extend(unused::services_without_endpoints(&infos, self.grace_days));
        // What each deletable object was when seen: the delete's preconditions.
        let mut seen: HashMap<(&str, String, String), (String, String)> = HashMap::new();
        let mut note = |kind: &'static str, meta: &ObjectMeta| {
            seen.insert(
                (
                    kind,
                    meta.namespace.clone().unwrap_or_default(),
                    meta.name.clone().unwrap_or_default(),
                ),
                (
                    meta.uid.clone().unwrap_or_default(),
                    meta.resource_version.clone().unwrap_or_default(),
                ),
            );
        };
        config_maps
            .iter()
            .for_each(|c| note("ConfigMap", &c.metadata));
        secrets.iter().for_each(|s| note("Secret", &s.metadata));
        for c in caches.claims.state() {
            note("PersistentVolumeClaim", &c.metadata);
        }
        job_objects.iter().for_each(|j| note("Job", &j.metadata));
        cron_jobs.iter().for_each(|c| note("CronJob", &c.metadata));
        // One row per object, whatever rules name it.
        let unique: BTreeMap<(String, String, String), domain::unused::Unused> = found
            .into_iter()
            .map(|mut u| {
                if let Some((uid, version)) =
                    seen.get(&(u.kind.as_str(), u.namespace.clone(), u.name.clone()))
                {
                    u.uid.clone_from(uid);
                    u.resource_version.clone_from(version);
                }
                ((u.kind.clone(), u.namespace.clone(), u.name.clone()), u)
            })
            .collect();
        Ok(unique.into_values().collect())
    }
}

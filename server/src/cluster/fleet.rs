//! The clusters one Berth serves: each member has its own client, watch caches and last known
//! health, so one cluster down or slow never holds up pages about another. Members come and go
//! with the registry while Berth runs.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use domain::fleet::{ClusterHealth, ClusterSource, ClusterSummary};
use domain::health::Check;

use super::cache::Caches;
use super::{Cluster, ClusterConfig, ClusterError};

/// How often every member is probed, besides `/readyz` and the clusters page.
const PROBE_EVERY: Duration = Duration::from_secs(10);

/// A cluster's labels as the registry or configuration gives them.
#[derive(Clone, Debug)]
pub struct Profile {
    pub display_name: String,
    pub region: String,
    pub environment: String,
    pub source: ClusterSource,
    /// How it was connected: a token Secret's rotation connects it again the same way.
    pub config: ClusterConfig,
}

impl Profile {
    pub fn of(config: &ClusterConfig, source: ClusterSource) -> Profile {
        Profile {
            display_name: config.display_name.clone(),
            region: config.region.clone(),
            environment: config.environment.clone(),
            source,
            config: config.clone(),
        }
    }
}

/// One cluster of the fleet.
#[derive(Clone)]
pub struct Member {
    pub cluster: Cluster,
    pub caches: Caches,
    pub profile: Profile,
    health: Arc<RwLock<ClusterHealth>>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// Starts the member's watches; returns at once.
    pub fn start(cluster: Cluster, profile: Profile) -> Member {
        Member {
            caches: Caches::start(&cluster),
            cluster,
            profile,
            health: Arc::default(),
        }
    }

    pub fn name(&self) -> &str {
        self.cluster.name()
    }

    pub fn health(&self) -> ClusterHealth {
        self.health.read().map(|h| h.clone()).unwrap_or_default()
    }

    /// Probes the API server and remembers the outcome (and the start of an outage).
    pub async fn probe(&self) -> Check {
        let check = self.cluster.probe().await;
        let now = unix_now();
        if let Ok(mut health) = self.health.write() {
            *health = health.after_probe(now, check.ok, check.detail.clone());
        }
        check
    }

    pub fn summary(&self, home: bool) -> ClusterSummary {
        let health = self.health();
        ClusterSummary {
            name: self.name().to_owned(),
            display_name: self.profile.display_name.clone(),
            region: self.profile.region.clone(),
            environment: self.profile.environment.clone(),
            api_server: self.cluster.server_url().to_owned(),
            public_server: self.cluster.public_server_url().to_owned(),
            source: self.profile.source,
            home,
            status: health.summary(unix_now()),
            health,
            namespaces: self.caches.namespaces.len(),
            pods: self.caches.pods.len(),
        }
    }
}

/// A registered cluster Berth could not build a client for, and why.
#[derive(Clone, Debug)]
pub struct Unreachable {
    pub profile: Profile,
    pub api_server: String,
    pub reason: String,
}

/// Every member, the home cluster first.
#[derive(Clone, Debug)]
pub struct Fleet {
    home: Member,
    others: Arc<RwLock<BTreeMap<String, Member>>>,
    unreachable: Arc<RwLock<BTreeMap<String, Unreachable>>>,
}

impl Fleet {
    pub fn new(home: Member) -> Fleet {
        Fleet {
            home,
            others: Arc::default(),
            unreachable: Arc::default(),
        }
    }

    /// A fleet of one: `cluster` as the home, from configuration.
    pub fn of(cluster: Cluster) -> Fleet {
        let config = ClusterConfig {
            name: cluster.name().to_owned(),
            ..ClusterConfig::default()
        };
        Fleet::new(Member::start(
            cluster,
            Profile::of(&config, ClusterSource::Config),
        ))
    }

    /// The cluster a namespace request names (empty: the home one), if it is in the fleet.
    pub fn cluster_named(&self, name: &str) -> Option<Cluster> {
        if name.is_empty() {
            return Some(self.home.cluster.clone());
        }
        self.get(name).map(|m| m.cluster)
    }

    /// The home cluster: where Berth's loops that know a single cluster act.
    pub fn home(&self) -> &Member {
        &self.home
    }

    /// How Postgres keys the rows of the cluster named `name`: by its name, except the home
    /// cluster's, which are keyed by the empty string (rows from before the fleet were its).
    pub fn storage_key<'a>(&self, name: &'a str) -> &'a str {
        if name == self.home.name() { "" } else { name }
    }

    /// The member named `name`, if it is in the fleet.
    pub fn get(&self, name: &str) -> Option<Member> {
        if name == self.home.name() {
            return Some(self.home.clone());
        }
        self.others
            .read()
            .ok()
            .and_then(|others| others.get(name).cloned())
    }

    /// Every member, home first, then by name.
    pub fn members(&self) -> Vec<Member> {
        let mut all = vec![self.home.clone()];
        if let Ok(others) = self.others.read() {
            all.extend(others.values().cloned());
        }
        all
    }

    pub fn names(&self) -> Vec<String> {
        self.members()
            .iter()
            .map(|m| m.name().to_owned())
            .chain(self.unreachable().into_keys())
            .collect()
    }

    /// Adds (or replaces) a member; a replaced one's watches stop.
    pub fn add(&self, member: Member) {
        let name = member.name().to_owned();
        if let Ok(mut unreachable) = self.unreachable.write() {
            unreachable.remove(&name);
        }
        let old = self
            .others
            .write()
            .ok()
            .and_then(|mut others| others.insert(name, member));
        if let Some(old) = old {
            old.caches.stop();
        }
    }

    /// Notes a registered cluster whose client could not be built.
    pub fn add_unreachable(&self, name: &str, entry: Unreachable) {
        if let Ok(mut unreachable) = self.unreachable.write() {
            unreachable.insert(name.to_owned(), entry);
        }
    }

    pub fn unreachable(&self) -> BTreeMap<String, Unreachable> {
        self.unreachable
            .read()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// Takes `name` out of the fleet and stops its watches (live streams about it end). The
    /// home cluster stays.
    pub fn remove(&self, name: &str) -> bool {
        let unreachable = self
            .unreachable
            .write()
            .ok()
            .and_then(|mut u| u.remove(name))
            .is_some();
        let member = self
            .others
            .write()
            .ok()
            .and_then(|mut others| others.remove(name));
        match member {
            Some(member) => {
                member.caches.stop();
                true
            }
            None => unreachable,
        }
    }

    /// Probes every member at once: a slow one costs its own timeout, not the others'.
    pub async fn probe_all(&self) -> Vec<(Member, Check)> {
        let members = self.members();
        let checks = futures::future::join_all(members.iter().map(Member::probe)).await;
        members.into_iter().zip(checks).collect()
    }

    /// Every member's summary, home first, then those that could not be connected.
    pub fn summaries(&self) -> Vec<ClusterSummary> {
        let home = self.home.name().to_owned();
        let mut all: Vec<ClusterSummary> = self
            .members()
            .iter()
            .map(|m| m.summary(m.name() == home))
            .collect();
        all.extend(
            self.unreachable()
                .into_iter()
                .map(|(name, u)| ClusterSummary {
                    name,
                    display_name: u.profile.display_name,
                    region: u.profile.region,
                    environment: u.profile.environment,
                    public_server: u.api_server.clone(),
                    api_server: u.api_server,
                    source: u.profile.source,
                    home: false,
                    status: "cannot be connected".to_owned(),
                    health: ClusterHealth {
                        answering: false,
                        checked_at: None,
                        stale_since: None,
                        detail: u.reason,
                    },
                    namespaces: 0,
                    pods: 0,
                }),
        );
        all
    }

    /// Probes every member every few seconds, so pages know a cluster is down without
    /// waiting on it themselves. Runs until aborted.
    pub async fn watch_health(self) {
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.probe_all().await;
        }
    }

    /// Stops every member's watches.
    pub fn stop(&self) {
        for member in self.members() {
            member.caches.stop();
        }
    }
}

/// A registry entry's connection settings as a cluster config.
pub fn config_of(draft: &domain::fleet::ClusterDraft) -> ClusterConfig {
    let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    ClusterConfig {
        name: draft.name.clone(),
        display_name: draft.display_name.clone(),
        region: draft.region.clone(),
        environment: draft.environment.clone(),
        kubeconfig: some(&draft.kubeconfig).map(Into::into),
        context: some(&draft.context),
        public_server: some(&draft.public_server),
        api_server: some(&draft.api_server),
        token_secret: some(&draft.token_secret),
    }
}

/// Connects a registry entry (a token Secret is read from the `home` cluster), or says why
/// not.
pub async fn connect_registered(
    draft: &domain::fleet::ClusterDraft,
    home: &Cluster,
) -> Result<Member, (Unreachable, ClusterError)> {
    let config = config_of(draft);
    let profile = Profile::of(&config, ClusterSource::Registry);
    match Cluster::connect_member(&config, home).await {
        Ok(cluster) => Ok(Member::start(cluster, profile)),
        Err(err) => Err((
            Unreachable {
                profile,
                api_server: config.api_server.clone().unwrap_or_default(),
                reason: err.to_string(),
            },
            err,
        )),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

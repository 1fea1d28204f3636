//! Kubeconfigs for namespaces Berth made: a client certificate issued through the CSR API,
//! living no longer than the namespace, handed over once and never stored; or, when the
//! cluster trusts the identity provider, an exec-plugin kubeconfig with no secret in it.

use base64::Engine;
use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::kubeconfig::{self, ClientCertificate, OidcExec};
use domain::tenancy::{ANNOTATION_EXPIRES, LABEL_TEAM, MANAGED_BY, team_group};

use super::{ServiceError, Services};

/// At most how many namespaces one combined kubeconfig holds: each is a certificate signing
/// request to its cluster, made while the caller waits.
const MAX_IN_ONE_KUBECONFIG: usize = 50;

/// A kubeconfig file to hand over.
pub struct KubeconfigFile {
    pub file_name: String,
    pub text: String,
}

impl Services {
    /// The cluster a namespace lives on: the one named (a fleet name), or else its live
    /// request's (the home cluster for namespaces made before the fleet). Names are unique per
    /// cluster, so a name on several clusters must be given its cluster.
    async fn cluster_of(
        &self,
        namespace: &str,
        cluster: Option<&str>,
    ) -> Result<crate::cluster::Cluster, ServiceError> {
        let named = match cluster.filter(|c| !c.is_empty()) {
            Some(named) => named.to_owned(),
            None => {
                let home = self.fleet().home().name().to_owned();
                let mut held: Vec<String> = self
                    .store()
                    .live_request_clusters(namespace)
                    .await?
                    .into_iter()
                    .map(|c| if c.is_empty() { home.clone() } else { c })
                    .collect();
                held.sort();
                held.dedup();
                if held.len() > 1 {
                    return Err(ServiceError::BadInput(format!(
                        "{namespace} lives on {}: name the cluster (?cluster=)",
                        held.join(" and ")
                    )));
                }
                held.pop().unwrap_or(home)
            }
        };
        self.fleet()
            .cluster_named(&named)
            .ok_or_else(|| ServiceError::NotFound(format!("no cluster {named} in the fleet")))
    }

    /// A kubeconfig for one namespace Berth made on `cluster` (left out: the one holding that
    /// name), for `user`.
    pub async fn namespace_kubeconfig(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        cluster: Option<&str>,
        namespace: &str,
    ) -> Result<KubeconfigFile, ServiceError> {
        let doc = self
            .namespace_kubeconfig_doc(user, origin, cluster, namespace)
            .await?;
        Ok(KubeconfigFile {
            file_name: format!("{namespace}.kubeconfig"),
            text: domain::yaml::to_yaml(&doc),
        })
    }

    /// One kubeconfig for every namespace Berth made for `user`'s teams, on every cluster of
    /// the fleet: a context each (`<namespace>@<cluster>`), each with its own credential (and
    /// its own audit event), the clusters once each. Namespaces too close to their expiry for a
    /// certificate are left out; one that cannot be issued for another reason fails the whole.
    pub async fn all_namespaces_kubeconfig(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
    ) -> Result<KubeconfigFile, ServiceError> {
        // (cluster, namespace): the same name may be a berth on two clusters.
        let mut names: Vec<(String, String)> = Vec::new();
        for member in self.fleet().members() {
            if !member.caches.check().ok {
                continue;
            }
            for ns in member.caches.namespaces.state() {
                let labels = ns.metadata.labels.as_ref();
                let ours = labels.and_then(|l| l.get(MANAGED_BY.0)).map(String::as_str)
                    == Some(MANAGED_BY.1);
                let team = labels.and_then(|l| l.get(LABEL_TEAM));
                if ours
                    && team.is_some_and(|t| user.teams.contains(t))
                    && let Some(name) = ns.metadata.name.clone()
                {
                    names.push((member.name().to_owned(), name));
                }
            }
        }
        if names.len() > MAX_IN_ONE_KUBECONFIG {
            return Err(ServiceError::BadInput(format!(
                "your teams have {} namespaces, more than one kubeconfig holds \
                 ({MAX_IN_ONE_KUBECONFIG}): download them one by one",
                names.len()
            )));
        }
        let mut docs = Vec::new();
        for (cluster, name) in &names {
            match self
                .namespace_kubeconfig_doc(user, origin, Some(cluster), name)
                .await
            {
                Ok(doc) => docs.push(doc),
                Err(ServiceError::BadInput(why)) => {
                    tracing::info!(namespace = %name, %cluster, %why, "left out of the combined kubeconfig");
                }
                Err(err) => return Err(err),
            }
        }
        if docs.is_empty() {
            return Err(ServiceError::NotFound(
                "your teams have no namespace Berth made yet".to_owned(),
            ));
        }
        Ok(KubeconfigFile {
            file_name: "berth.kubeconfig".to_owned(),
            text: domain::yaml::to_yaml(&kubeconfig::combine(&docs)),
        })
    }

    async fn namespace_kubeconfig_doc(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        cluster: Option<&str>,
        namespace: &str,
    ) -> Result<serde_json::Value, ServiceError> {
        // Reserved names are fine to look up; only malformed ones are refused here.
        domain::tenancy::check_label(namespace)
            .map_err(|e| ServiceError::BadInput(format!("{namespace:?}: {e}")))?;
        let cluster = self.cluster_of(namespace, cluster).await?;
        let ns = cluster
            .namespace(namespace)
            .await
            .map_err(|e| ServiceError::Cluster(e.to_string()))?
            .ok_or_else(|| ServiceError::NotFound(format!("no namespace {namespace}")))?;
        let labels = ns.metadata.labels.unwrap_or_default();
        if labels.get(MANAGED_BY.0).map(String::as_str) != Some(MANAGED_BY.1) {
            return Err(ServiceError::Forbidden(format!(
                "Berth hands out kubeconfigs only for namespaces it made; {namespace} is not one"
            )));
        }
        let team = labels.get(LABEL_TEAM).cloned().unwrap_or_default();
        if let Decision::Deny(why) = decide(
            &user.actor(),
            Action::DownloadKubeconfig,
            &Target::team(&team),
        ) {
            return Err(ServiceError::Forbidden(why));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        if let Some((issuer_url, client_id)) = self.kubectl_oidc() {
            // The cluster trusts the identity provider: kubectl signs in itself, nothing secret
            // changes hands.
            let mut audit = NewEvent::by(Some(user), origin, "kubeconfig.issue", Outcome::Success)
                .on_cluster(cluster.name());
            audit.target_kind = "Namespace".to_owned();
            audit.target_namespace = namespace.to_owned();
            audit.target_name = namespace.to_owned();
            audit.after = Some(
                serde_json::json!({ "kind": "oidc-exec", "issuer": issuer_url, "cluster": cluster.name() }),
            );
            self.store().record(&audit).await?;
            return Ok(kubeconfig::oidc_exec_doc(
                &OidcExec {
                    cluster_name: cluster.name(),
                    server: cluster.public_server_url(),
                    ca_pem: cluster.ca_pem(),
                    namespace,
                    issuer_url,
                    client_id,
                },
                |bytes| b64.encode(bytes),
            ));
        }
        let left = ns
            .metadata
            .annotations
            .unwrap_or_default()
            .get(ANNOTATION_EXPIRES)
            .and_then(|text| text.parse::<jiff::Timestamp>().ok())
            .map(|at| at.as_second() - jiff::Timestamp::now().as_second());
        let configured =
            i64::try_from(self.tenancy().kubeconfig_lifetime.as_secs()).unwrap_or(i64::MAX);
        let seconds =
            kubeconfig::certificate_seconds(configured, left).map_err(ServiceError::BadInput)?;
        let issued = cluster
            .issue_client_certificate(&user.id, &team_group(&team), seconds)
            .await
            .map_err(|e| ServiceError::Cluster(e.to_string()))?;
        // Written down before the key is handed over; if it cannot be, nothing is handed over.
        let mut audit = NewEvent::by(Some(user), origin, "kubeconfig.issue", Outcome::Success)
            .on_cluster(cluster.name());
        audit.target_kind = "Namespace".to_owned();
        audit.target_namespace = namespace.to_owned();
        audit.target_name = namespace.to_owned();
        audit.after = Some(serde_json::json!({
            "certificate_signing_request": issued.csr_name,
            "valid_for_seconds": seconds,
            "group": team_group(&team),
            "cluster": cluster.name(),
        }));
        self.store().record(&audit).await?;
        Ok(kubeconfig::client_certificate_doc(
            &ClientCertificate {
                cluster_name: cluster.name(),
                server: cluster.public_server_url(),
                ca_pem: cluster.ca_pem(),
                // Per namespace and cluster: kubeconfigs merged (KUBECONFIG=a:b, the plugin) keep
                // each certificate, where one name per user would let the first shadow the rest.
                user: &format!("{}/{namespace}@{}", user.id, cluster.name()),
                namespace,
                cert_pem: &issued.cert_pem,
                key_pem: &issued.key_pem,
            },
            |bytes| b64.encode(bytes),
        ))
    }
}

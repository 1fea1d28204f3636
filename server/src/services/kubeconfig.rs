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

/// A kubeconfig file to hand over.
pub struct KubeconfigFile {
    pub file_name: String,
    pub text: String,
}

impl Services {
    /// The cluster a namespace lives on: its request's, or the home cluster for namespaces
    /// made before the fleet (names are unique across the fleet).
    async fn cluster_of(&self, namespace: &str) -> Result<crate::cluster::Cluster, ServiceError> {
        let named = self
            .store()
            .live_request_cluster(namespace)
            .await?
            .unwrap_or_default();
        self.fleet().cluster_named(&named).ok_or_else(|| {
            ServiceError::Cluster(format!(
                "{namespace} lives on cluster {named}, which is not in the fleet now"
            ))
        })
    }

    pub async fn namespace_kubeconfig(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        namespace: &str,
    ) -> Result<KubeconfigFile, ServiceError> {
        // Reserved names are fine to look up; only malformed ones are refused here.
        domain::tenancy::check_label(namespace)
            .map_err(|e| ServiceError::BadInput(format!("{namespace:?}: {e}")))?;
        let cluster = self.cluster_of(namespace).await?;
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
            let text = kubeconfig::oidc_exec(
                &OidcExec {
                    cluster_name: cluster.name(),
                    server: cluster.public_server_url(),
                    ca_pem: cluster.ca_pem(),
                    namespace,
                    issuer_url,
                    client_id,
                },
                |bytes| b64.encode(bytes),
            );
            return Ok(KubeconfigFile {
                file_name: format!("{namespace}.kubeconfig"),
                text,
            });
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
        let text = kubeconfig::client_certificate(
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
        );
        Ok(KubeconfigFile {
            file_name: format!("{namespace}.kubeconfig"),
            text,
        })
    }
}

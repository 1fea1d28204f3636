//! Server-side apply of the manifests Berth renders, and reading them back.

use domain::tenancy::{FIELD_MANAGER, Manifest};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};

use super::Cluster;

/// Why an apply or a read did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("Berth does not know how to apply a {0}")]
    UnknownKind(String),
    /// The API server refused it; retrying will not help (invalid, forbidden, over quota).
    #[error("{kind} {name}: the cluster refused it: {message}")]
    Refused {
        kind: String,
        name: String,
        message: String,
    },
    /// The API server did not answer or answered with an error that may pass.
    #[error("{kind} {name}: {message}")]
    Transient {
        kind: String,
        name: String,
        message: String,
    },
}

impl ApplyError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ApplyError::Transient { .. })
    }
}

/// The plural resource name of each kind Berth writes.
fn plural(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Namespace" => "namespaces",
        "RoleBinding" => "rolebindings",
        "ClusterRoleBinding" => "clusterrolebindings",
        "ResourceQuota" => "resourcequotas",
        "LimitRange" => "limitranges",
        "NetworkPolicy" => "networkpolicies",
        _ => return None,
    })
}

fn api_for(cluster: &Cluster, manifest: &Manifest) -> Result<Api<DynamicObject>, ApplyError> {
    let plural =
        plural(&manifest.kind).ok_or_else(|| ApplyError::UnknownKind(manifest.kind.clone()))?;
    let (group, version) = match manifest.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", manifest.api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &manifest.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    Ok(match &manifest.namespace {
        Some(ns) => Api::namespaced_with(cluster.client().clone(), ns, &resource),
        None => Api::all_with(cluster.client().clone(), &resource),
    })
}

fn classify(manifest: &Manifest, err: kube::Error) -> ApplyError {
    let kind = manifest.kind.clone();
    let name = manifest.name.clone();
    match err {
        // 4xx other than conflicts and throttling: the object itself is the problem.
        kube::Error::Api(status)
            if (400..500).contains(&status.code) && status.code != 409 && status.code != 429 =>
        {
            ApplyError::Refused {
                kind,
                name,
                message: status.message,
            }
        }
        other => ApplyError::Transient {
            kind,
            name,
            message: other.to_string(),
        },
    }
}

impl Cluster {
    /// Applies one manifest with field manager `berth`, taking over fields others set: Berth
    /// owns what it applies. Idempotent: applying it again changes nothing.
    pub async fn apply(&self, manifest: &Manifest) -> Result<serde_json::Value, ApplyError> {
        let api = api_for(self, manifest)?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(&manifest.name, &params, &Patch::Apply(&manifest.body))
            .await
            .map_err(|e| classify(manifest, e))?;
        serde_json::to_value(applied).map_err(|e| ApplyError::Transient {
            kind: manifest.kind.clone(),
            name: manifest.name.clone(),
            message: e.to_string(),
        })
    }

    /// The object a manifest describes as the cluster has it now; `None` when it is absent.
    pub async fn read_back(
        &self,
        manifest: &Manifest,
    ) -> Result<Option<serde_json::Value>, ApplyError> {
        let api = api_for(self, manifest)?;
        let found = api
            .get_opt(&manifest.name)
            .await
            .map_err(|e| classify(manifest, e))?;
        found
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| ApplyError::Transient {
                kind: manifest.kind.clone(),
                name: manifest.name.clone(),
                message: e.to_string(),
            })
    }
}

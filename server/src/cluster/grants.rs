//! The bindings of just-in-time grants: made by server-side apply, removed by name (every
//! binding of a grant is called `berth-jit-<request>`).

use domain::jit::{Scope, binding_name};
use domain::tenancy::Manifest;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams};

use super::Cluster;
use super::apply::ApplyError;

impl Cluster {
    /// Applies every binding of a grant; the first refusal stops it (the caller revokes what
    /// was made).
    pub async fn apply_grant(&self, manifests: &[Manifest]) -> Result<(), ApplyError> {
        for m in manifests {
            self.apply(m).await?;
        }
        Ok(())
    }

    /// Deletes every binding of a grant; those already gone count as deleted.
    pub async fn remove_grant(&self, request_id: &str, scope: &Scope) -> Result<(), String> {
        let name = binding_name(request_id);
        let gone = |r: Result<(), kube::Error>| match r {
            Ok(()) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(format!("deleting {name}: {e}")),
        };
        match scope {
            Scope::Cluster => gone(
                Api::<ClusterRoleBinding>::all(self.client().clone())
                    .delete(&name, &DeleteParams::default())
                    .await
                    .map(drop),
            ),
            Scope::Namespaces(list) => {
                for ns in list {
                    gone(
                        Api::<RoleBinding>::namespaced(self.client().clone(), ns)
                            .delete(&name, &DeleteParams::default())
                            .await
                            .map(drop),
                    )?;
                }
                Ok(())
            }
        }
    }
}

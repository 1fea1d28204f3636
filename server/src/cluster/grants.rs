//! The bindings of just-in-time grants: made by server-side apply, removed by name (every
//! binding of a grant is called `berth-jit-<request>`).

use domain::jit::{Scope, binding_name};
use domain::tenancy::Manifest;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};

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

    /// Whether the API server's authorizer lets `user` (in `group`) read pods where the grant
    /// applies (its first namespace, or the cluster): every role Berth hands out by default
    /// (view, edit, admin, cluster-admin) allows it. RBAC reads bindings from a cache; until it
    /// has seen the new ones, the grant's kubeconfig would be refused.
    pub async fn grant_honoured(
        &self,
        user: &str,
        group: &str,
        scope: &Scope,
    ) -> Result<bool, kube::Error> {
        let namespace = match scope {
            Scope::Cluster => None,
            Scope::Namespaces(list) => list.first().cloned(),
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_owned()),
                groups: Some(vec![group.to_owned(), "system:authenticated".to_owned()]),
                resource_attributes: Some(ResourceAttributes {
                    namespace,
                    verb: Some("get".to_owned()),
                    resource: Some("pods".to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client().clone())
            .create(&PostParams::default(), &review)
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
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

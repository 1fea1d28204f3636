//! The resource types the sandbox serves: what discovery lists and what requests may name.

/// One resource type, as the API server's discovery describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Has a `status` subresource: updates of the main resource leave status alone.
    pub status: bool,
    /// `metadata.generation` counts spec changes.
    pub generation: bool,
    /// Stored objects; false for review-style resources that only answer a `create`.
    pub stored: bool,
    /// Extra subresources besides `status`, e.g. `approval` on CSRs.
    pub extra_subresources: &'static [&'static str],
}

impl ResourceType {
    /// `apiVersion` as objects carry it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods`: how the API server names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        if self.group == "metrics.k8s.io" {
            &["get", "list"]
        } else if self.stored {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        } else {
            &["create"]
        }
    }
}

#[allow(clippy::too_many_arguments)] // a table row; named fields would triple the table
const fn stored(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status: bool,
    generation: bool,
) -> ResourceType {
    ResourceType {
        group,
        version,
        kind,
        plural,
        singular,
        namespaced,
        short_names,
        status,
        generation,
        stored: true,
        extra_subresources: &[],
    }
}

const fn review(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        kind,
        plural,
        singular: "",
        namespaced,
        short_names: &[],
        status: false,
        generation: false,
        stored: false,
        extra_subresources: &[],
    }
}

/// Every resource the sandbox serves.
#[rustfmt::skip]
pub static RESOURCES: &[ResourceType] = &[
    // core/v1
    stored("", "v1", "Namespace", "namespaces", "namespace", false, &["ns"], true, false),
    stored("", "v1", "Pod", "pods", "pod", true, &["po"], true, false),
    stored("", "v1", "Service", "services", "service", true, &["svc"], true, false),
    stored("", "v1", "Endpoints", "endpoints", "endpoints", true, &["ep"], false, false),
    stored("", "v1", "ConfigMap", "configmaps", "configmap", true, &["cm"], false, false),
    stored("", "v1", "Secret", "secrets", "secret", true, &[], false, false),
    stored("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, &["sa"], false, false),
    stored("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false, &["pv"], true, false),
    stored("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, &["pvc"], true, false),
    stored("", "v1", "Node", "nodes", "node", false, &["no"], true, false),
    stored("", "v1", "Event", "events", "event", true, &["ev"], false, false),
    stored("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, &["quota"], true, false),
    stored("", "v1", "LimitRange", "limitranges", "limitrange", true, &["limits"], false, false),
    // apps/v1
    stored("apps", "v1", "Deployment", "deployments", "deployment", true, &["deploy"], true, true),
    stored("apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, &["rs"], true, true),
    stored("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, &["sts"], true, true),
    stored("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, &["ds"], true, true),
    // batch/v1
    stored("batch", "v1", "Job", "jobs", "job", true, &[], true, true),
    stored("batch", "v1", "CronJob", "cronjobs", "cronjob", true, &["cj"], true, true),
    // rbac.authorization.k8s.io/v1
    stored("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, &[], false, false),
    stored("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, &[], false, false),
    stored("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, &[], false, false),
    stored("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, &[], false, false),
    // networking.k8s.io/v1
    stored("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true, &["netpol"], false, true),
    stored("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, &["ing"], true, true),
    // policy/v1
    stored("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true, &["pdb"], true, true),
    // autoscaling/v2
    stored("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true, &["hpa"], true, false),
    // certificates.k8s.io/v1
    ResourceType {
        extra_subresources: &["approval"],
        ..stored("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", "certificatesigningrequest", false, &["csr"], true, false)
    },
    // coordination.k8s.io/v1
    stored("coordination.k8s.io", "v1", "Lease", "leases", "lease", true, &[], false, false),
    // authorization.k8s.io/v1: answered, never stored
    review("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
    review("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false),
    // metrics.k8s.io/v1beta1: computed from usage profiles, never stored
    ResourceType { version: "v1beta1", singular: "", ..review("metrics.k8s.io", "PodMetrics", "pods", true) },
    ResourceType { version: "v1beta1", singular: "", ..review("metrics.k8s.io", "NodeMetrics", "nodes", false) },
];

/// Looks a resource up by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by the `apiVersion` and `kind` an object carries.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The API groups in the order discovery lists them (core excluded).
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_group_version() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "{} twice",
                    a.qualified()
                );
            }
        }
    }

    #[test]
    fn lookups_agree() {
        let d = find("apps", "v1", "deployments").expect("deployments");
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(d.qualified(), "deployments.apps");
        assert_eq!(by_kind("apps/v1", "Deployment"), Some(d));
        assert_eq!(
            find("", "v1", "pods").map(|p| p.qualified()),
            Some("pods".to_owned())
        );
        assert!(groups().contains(&("rbac.authorization.k8s.io", "v1")));
    }
}

//! RBAC as the API server evaluates it: bindings whose subjects match the user select roles,
//! and any rule of those roles that covers the request allows it. Nothing denies.

use serde_json::{Value, json};

use crate::request_info::{RequestInfo, ResourceRequest};

/// Who is asking, from a client certificate or a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(
        user: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_owned());
        }
        Identity {
            user: user.into(),
            groups,
        }
    }
}

/// The roles and bindings a decision reads.
#[derive(Debug, Default)]
pub struct Policy {
    pub cluster_roles: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
    /// Roles and role bindings of the request's namespace only.
    pub roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
}

/// Whether `identity` may do what `request` asks.
pub fn allowed(policy: &Policy, identity: &Identity, request: &RequestInfo) -> bool {
    if identity.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let cluster_rules = policy
        .cluster_role_bindings
        .iter()
        .filter(|b| binds(b, identity))
        .filter_map(|b| role_rules(b, &policy.cluster_roles, &[]));
    for rules in cluster_rules {
        if rules.iter().any(|r| covers(r, request)) {
            return true;
        }
    }
    let RequestInfo::Resource(res) = request else {
        return false;
    };
    let Some(namespace) = res.namespace.as_deref() else {
        return false;
    };
    let in_namespace =
        |o: &&Value| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace);
    let roles: Vec<Value> = policy.roles.iter().filter(in_namespace).cloned().collect();
    policy
        .role_bindings
        .iter()
        .filter(in_namespace)
        .filter(|b| binds(b, identity))
        .filter_map(|b| role_rules(b, &policy.cluster_roles, &roles))
        .any(|rules| rules.iter().any(|r| covers(r, request)))
}

fn binds(binding: &Value, identity: &Identity) -> bool {
    let namespace = binding
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .is_some_and(|subjects| {
            subjects.iter().any(|s| {
                let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
                match s.get("kind").and_then(Value::as_str) {
                    Some("User") => identity.user == name,
                    Some("Group") => identity.groups.iter().any(|g| g == name),
                    Some("ServiceAccount") => {
                        let ns = s
                            .get("namespace")
                            .and_then(Value::as_str)
                            .unwrap_or(namespace);
                        identity.user == format!("system:serviceaccount:{ns}:{name}")
                    }
                    _ => false,
                }
            })
        })
}

fn role_rules(binding: &Value, cluster_roles: &[Value], roles: &[Value]) -> Option<Vec<Value>> {
    let kind = binding.pointer("/roleRef/kind").and_then(Value::as_str)?;
    let name = binding.pointer("/roleRef/name").and_then(Value::as_str)?;
    let pool = match kind {
        "ClusterRole" => cluster_roles,
        "Role" => roles,
        _ => return None,
    };
    let role = pool
        .iter()
        .find(|r| r.pointer("/metadata/name").and_then(Value::as_str) == Some(name))?;
    Some(
        role.get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    )
}

pub(crate) fn strings<'a>(rule: &'a Value, field: &str) -> Vec<&'a str> {
    rule.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn covers(rule: &Value, request: &RequestInfo) -> bool {
    match request {
        RequestInfo::NonResource { path, verb } => {
            let verbs = strings(rule, "verbs");
            let urls = strings(rule, "nonResourceURLs");
            (verbs.contains(&"*") || verbs.contains(&verb.as_str()))
                && urls.iter().any(|u| {
                    *u == "*"
                        || *u == path
                        || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                })
        }
        RequestInfo::Resource(res) => covers_resource(rule, res),
    }
}

fn covers_resource(rule: &Value, res: &ResourceRequest) -> bool {
    let verbs = strings(rule, "verbs");
    let groups = strings(rule, "apiGroups");
    let resources = strings(rule, "resources");
    let names = strings(rule, "resourceNames");
    let combined = match &res.subresource {
        Some(sub) => format!("{}/{sub}", res.resource),
        None => res.resource.clone(),
    };
    let resource_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || res
                .subresource
                .as_ref()
                .is_some_and(|sub| r.strip_prefix("*/") == Some(sub.as_str()))
    });
    let name_ok = names.is_empty()
        || res
            .name
            .as_ref()
            .is_some_and(|n| names.contains(&n.as_str()));
    (verbs.contains(&"*") || verbs.contains(&res.verb.as_str()))
        && (groups.contains(&"*") || groups.contains(&res.group.as_str()))
        && resource_ok
        && name_ok
}

/// The 403 message a real API server writes for a denied request.
pub fn forbidden_message(identity: &Identity, request: &RequestInfo) -> String {
    match request {
        RequestInfo::NonResource { path, verb } => {
            format!(
                "forbidden: User \"{}\" cannot {verb} path \"{path}\"",
                identity.user
            )
        }
        RequestInfo::Resource(res) => {
            let qualified = if res.group.is_empty() {
                res.resource.clone()
            } else {
                format!("{}.{}", res.resource, res.group)
            };
            let subject = match &res.name {
                Some(name) => format!("{qualified} \"{name}\""),
                None => qualified,
            };
            let resource = match &res.subresource {
                Some(sub) => format!("{}/{sub}", res.resource),
                None => res.resource.clone(),
            };
            let scope = match &res.namespace {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".to_owned(),
            };
            format!(
                "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
                identity.user, res.verb, res.group
            )
        }
    }
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({ "apiGroups": groups, "resources": resources, "verbs": verbs })
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

/// The bootstrap ClusterRoles (`cluster-admin`, `admin`, `edit`, `view`, discovery) and the
/// bindings every cluster starts with, as objects to store.
#[rustfmt::skip]
pub fn bootstrap_objects() -> Vec<Value> {
    let view_rules = vec![
        rule(&[""], &["pods", "pods/log", "pods/status", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "replicationcontrollers", "services", "services/status", "serviceaccounts", "events", "limitranges", "resourcequotas", "resourcequotas/status", "namespaces", "namespaces/status", "bindings"], READ),
        rule(&["apps"], &["deployments", "deployments/scale", "deployments/status", "daemonsets", "daemonsets/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status", "controllerrevisions"], READ),
        rule(&["autoscaling"], &["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
        rule(&["batch"], &["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
        rule(&["networking.k8s.io"], &["ingresses", "ingresses/status", "networkpolicies"], READ),
        rule(&["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
        rule(&["coordination.k8s.io"], &["leases"], READ),
        rule(&["metrics.k8s.io"], &["pods", "nodes"], READ),
    ];
    let mut edit_rules = view_rules.clone();
    edit_rules.extend([
        rule(&[""], &["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction", "configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers", "services", "services/proxy", "secrets", "serviceaccounts", "serviceaccounts/token"], WRITE),
        rule(&[""], &["secrets"], READ),
        rule(&["apps"], &["deployments", "deployments/scale", "deployments/rollback", "daemonsets", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"], WRITE),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(&["networking.k8s.io"], &["ingresses", "networkpolicies"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["coordination.k8s.io"], &["leases"], WRITE),
    ]);
    let mut admin_rules = edit_rules.clone();
    admin_rules.extend([
        rule(&["rbac.authorization.k8s.io"], &["roles", "rolebindings"], &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]),
        rule(&["authorization.k8s.io"], &["localsubjectaccessreviews"], &["create"]),
    ]);
    let cluster_role = |name: &str, rules: Vec<Value>| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": { "name": name, "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" } },
            "rules": rules,
        })
    };
    let binding = |name: &str, role: &str, group: &str| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": { "name": name, "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" } },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group }],
        })
    };
    vec![
        cluster_role(
            "cluster-admin",
            vec![
                json!({ "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] }),
                json!({ "nonResourceURLs": ["*"], "verbs": ["*"] }),
            ],
        ),
        cluster_role("admin", admin_rules),
        cluster_role("edit", edit_rules),
        cluster_role("view", view_rules),
        cluster_role(
            "system:discovery",
            vec![json!({
                "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/", "/openapi", "/openapi/*"],
                "verbs": ["get"],
            })],
        ),
        cluster_role(
            "system:basic-user",
            vec![rule(&["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"], &["create"])],
        ),
        binding("cluster-admin", "cluster-admin", "system:masters"),
        binding("system:discovery", "system:discovery", "system:authenticated"),
        binding("system:basic-user", "system:basic-user", "system:authenticated"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_info::resolve;

    fn policy_with(role_bindings: Vec<Value>, roles: Vec<Value>) -> Policy {
        let objects = bootstrap_objects();
        Policy {
            cluster_roles: objects
                .iter()
                .filter(|o| o["kind"] == "ClusterRole")
                .cloned()
                .collect(),
            cluster_role_bindings: objects
                .iter()
                .filter(|o| o["kind"] == "ClusterRoleBinding")
                .cloned()
                .collect(),
            roles,
            role_bindings,
        }
    }

    fn rolebinding(
        ns: &str,
        role_kind: &str,
        role: &str,
        subject_kind: &str,
        subject: &str,
    ) -> Value {
        json!({
            "metadata": {"name": "rb", "namespace": ns},
            "roleRef": {"kind": role_kind, "name": role},
            "subjects": [{"kind": subject_kind, "name": subject, "namespace": ns}],
        })
    }

    #[test]
    fn masters_may_do_anything() {
        let id = Identity::new("admin", ["system:masters"]);
        assert!(allowed(
            &Policy::default(),
            &id,
            &resolve("DELETE", "/api/v1/nodes/n1", false)
        ));
    }

    #[test]
    fn edit_in_one_namespace_only() {
        let policy = policy_with(
            vec![rolebinding(
                "team-a",
                "ClusterRole",
                "edit",
                "User",
                "alice",
            )],
            vec![],
        );
        let alice = Identity::new("alice", Vec::<String>::new());
        let ok = |m: &str, p: &str| allowed(&policy, &alice, &resolve(m, p, false));
        assert!(ok("POST", "/apis/apps/v1/namespaces/team-a/deployments"));
        assert!(ok("GET", "/api/v1/namespaces/team-a/secrets/s"));
        assert!(!ok("GET", "/api/v1/namespaces/team-b/pods"));
        assert!(!ok(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings"
        ));
        assert!(!ok("GET", "/api/v1/nodes"));
        // Discovery and self-review are open to every authenticated user.
        assert!(ok("GET", "/apis"));
        assert!(ok(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        ));
    }

    #[test]
    fn groups_service_accounts_subresources_and_names() {
        let role = json!({
            "metadata": {"name": "cm-reader", "namespace": "a"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["update"]},
            ],
        });
        let policy = policy_with(
            vec![
                rolebinding("a", "Role", "cm-reader", "Group", "readers"),
                rolebinding("a", "Role", "cm-reader", "ServiceAccount", "bot"),
            ],
            vec![role],
        );
        let reader = Identity::new("x", ["readers"]);
        let bot = Identity::new("system:serviceaccount:a:bot", Vec::<String>::new());
        for id in [&reader, &bot] {
            assert!(allowed(
                &policy,
                id,
                &resolve("GET", "/api/v1/namespaces/a/configmaps/settings", false)
            ));
            assert!(!allowed(
                &policy,
                id,
                &resolve("GET", "/api/v1/namespaces/a/configmaps/other", false)
            ));
            assert!(!allowed(
                &policy,
                id,
                &resolve("GET", "/api/v1/namespaces/a/configmaps", false)
            ));
            assert!(allowed(
                &policy,
                id,
                &resolve(
                    "PUT",
                    "/apis/apps/v1/namespaces/a/deployments/web/status",
                    false
                )
            ));
            assert!(!allowed(
                &policy,
                id,
                &resolve("PUT", "/apis/apps/v1/namespaces/a/deployments/web", false)
            ));
        }
    }

    #[test]
    fn messages_match_the_api_server() {
        let bob = Identity::new("bob", Vec::<String>::new());
        assert_eq!(
            forbidden_message(
                &bob,
                &resolve("GET", "/api/v1/namespaces/default/pods", false)
            ),
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        assert_eq!(
            forbidden_message(
                &bob,
                &resolve("GET", "/apis/apps/v1/namespaces/a/deployments/web", false)
            ),
            "deployments.apps \"web\" is forbidden: User \"bob\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"a\""
        );
        assert_eq!(
            forbidden_message(&bob, &resolve("GET", "/api/v1/nodes", false)),
            "nodes is forbidden: User \"bob\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }
}

//! The API server's guards beyond plain RBAC: nobody grants permissions they do not hold
//! (binding a role needs `bind` on it, or every permission in it; writing a role needs
//! `escalate`, or every permission in it), and approving a certificate request needs `approve`
//! on its signer. Without them a least-privilege role for Berth could not be checked here.

use serde_json::Value;

use crate::rbac::{self, Identity, Policy};
use crate::request_info::{RequestInfo, ResourceRequest};
use crate::status::ApiError;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// What a write asks beyond its own verb, given the object it writes (`None` when the body is
/// not a whole object, e.g. a merge patch) and the object stored under that name, if any.
pub fn check(
    policy_for: &dyn Fn(Option<&str>) -> Policy,
    identity: &Identity,
    res: &ResourceRequest,
    written: Option<&Value>,
    stored: Option<&Value>,
) -> Result<(), ApiError> {
    if identity.groups.iter().any(|g| g == "system:masters")
        || !matches!(res.verb.as_str(), "create" | "update" | "patch")
    {
        return Ok(());
    }
    let field = |pointer: &str| {
        written
            .and_then(|o| o.pointer(pointer))
            .or_else(|| stored.and_then(|o| o.pointer(pointer)))
    };
    let namespace = res.namespace.as_deref();
    match (
        res.group.as_str(),
        res.resource.as_str(),
        res.subresource.as_deref(),
    ) {
        (RBAC_GROUP, "rolebindings" | "clusterrolebindings", None) => {
            let Some(role_ref) = field("/roleRef") else {
                return Ok(());
            };
            let kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
            let plural = if kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            let policy = policy_for(namespace);
            if rbac::allowed(
                &policy,
                identity,
                &ask("bind", RBAC_GROUP, plural, namespace, name),
            ) {
                return Ok(());
            }
            let pool = if kind == "Role" {
                &policy.roles
            } else {
                &policy.cluster_roles
            };
            let rules = pool
                .iter()
                .find(|r| r.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
                .and_then(|r| r.get("rules"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            grants_only_held(&policy, identity, &rules, namespace, res)
        }
        (RBAC_GROUP, "roles" | "clusterroles", None) => {
            let name = res.name.as_deref().or_else(|| {
                written
                    .and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
            });
            let policy = policy_for(namespace);
            let escalate = ask(
                "escalate",
                RBAC_GROUP,
                &res.resource,
                namespace,
                name.unwrap_or(""),
            );
            if rbac::allowed(&policy, identity, &escalate) {
                return Ok(());
            }
            let rules = written
                .and_then(|o| o.get("rules"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            grants_only_held(&policy, identity, &rules, namespace, res)
        }
        ("certificates.k8s.io", "certificatesigningrequests", Some("approval")) => {
            let signer = field("/spec/signerName")
                .and_then(Value::as_str)
                .unwrap_or("");
            let domain_wide = format!("{}/*", signer.split('/').next().unwrap_or(""));
            let policy = policy_for(None);
            let may = |name: &str| {
                rbac::allowed(
                    &policy,
                    identity,
                    &ask("approve", "certificates.k8s.io", "signers", None, name),
                )
            };
            if may(signer) || may(&domain_wide) {
                Ok(())
            } else {
                Err(ApiError::forbidden(format!(
                    "certificatesigningrequests.certificates.k8s.io \"{}\" is forbidden: user not \
                     permitted to approve requests with signerName \"{signer}\"",
                    res.name.as_deref().unwrap_or("")
                )))
            }
        }
        _ => Ok(()),
    }
}

fn ask(
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> RequestInfo {
    RequestInfo::Resource(ResourceRequest {
        verb: verb.to_owned(),
        group: group.to_owned(),
        version: "v1".to_owned(),
        resource: resource.to_owned(),
        subresource: None,
        namespace: namespace.map(str::to_owned),
        name: (!name.is_empty()).then(|| name.to_owned()),
    })
}

/// Every permission `rules` name must be one the requester holds where the object applies.
fn grants_only_held(
    policy: &Policy,
    identity: &Identity,
    rules: &[Value],
    namespace: Option<&str>,
    res: &ResourceRequest,
) -> Result<(), ApiError> {
    let mut missing = Vec::new();
    for rule in rules {
        for request in expand(rule, namespace) {
            if !rbac::allowed(policy, identity, &request) {
                missing.push(describe(&request));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "{}.{RBAC_GROUP} \"{}\" is forbidden: user \"{}\" is attempting to grant RBAC \
         permissions not currently held: {}",
        res.resource,
        res.name.as_deref().unwrap_or(""),
        identity.user,
        missing.join("; ")
    )))
}

fn strings(rule: &Value, field: &str) -> Vec<String> {
    rbac::strings(rule, field)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// A rule as the single requests it allows (`*` stays literal: only `*` covers it).
fn expand(rule: &Value, namespace: Option<&str>) -> Vec<RequestInfo> {
    let verbs = strings(rule, "verbs");
    let urls = strings(rule, "nonResourceURLs");
    if !urls.is_empty() {
        return urls
            .iter()
            .flat_map(|path| {
                verbs.iter().map(|verb| RequestInfo::NonResource {
                    path: path.clone(),
                    verb: verb.clone(),
                })
            })
            .collect();
    }
    let names = strings(rule, "resourceNames");
    let names: Vec<Option<String>> = if names.is_empty() {
        vec![None]
    } else {
        names.into_iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for group in strings(rule, "apiGroups") {
        for resource in strings(rule, "resources") {
            let (resource, subresource) = match resource.split_once('/') {
                Some((r, s)) => (r.to_owned(), Some(s.to_owned())),
                None => (resource, None),
            };
            for verb in &verbs {
                for name in &names {
                    out.push(RequestInfo::Resource(ResourceRequest {
                        verb: verb.clone(),
                        group: group.clone(),
                        version: "v1".to_owned(),
                        resource: resource.clone(),
                        subresource: subresource.clone(),
                        namespace: namespace.map(str::to_owned),
                        name: name.clone(),
                    }));
                }
            }
        }
    }
    out
}

fn describe(request: &RequestInfo) -> String {
    match request {
        RequestInfo::NonResource { path, verb } => {
            format!("{{NonResourceURLs:[{path}], Verbs:[{verb}]}}")
        }
        RequestInfo::Resource(r) => {
            let resource = match &r.subresource {
                Some(s) => format!("{}/{s}", r.resource),
                None => r.resource.clone(),
            };
            format!(
                "{{APIGroups:[\"{}\"], Resources:[\"{resource}\"], Verbs:[\"{}\"]}}",
                r.group, r.verb
            )
        }
    }
}

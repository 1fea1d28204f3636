//! What a request asks for, read from its method, path and query the way the Kubernetes API
//! server's request-info resolver reads them: the input of authorisation and dispatch.

/// A request for a resource, or for a plain path such as `/version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestInfo {
    Resource(ResourceRequest),
    NonResource { path: String, verb: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRequest {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// Subresources of a namespace; anything else after `/namespaces/{ns}/` is a resource in it.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Resolves `method` and `path` (without query); `watch` is the `watch` query flag.
pub fn resolve(method: &str, path: &str, watch: bool) -> RequestInfo {
    let http_verb = match method {
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        other => return non_resource(path, &other.to_ascii_lowercase()),
    };
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => (("", *version), rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => ((*group, *version), rest),
        _ => return non_resource(path, http_verb),
    };
    let mut namespace = None;
    let mut parts: &[&str] = rest;
    if parts[0] == "namespaces" && parts.len() > 1 {
        namespace = Some(parts[1].to_owned());
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
            parts = &parts[2..];
        }
    }
    let resource = parts[0].to_owned();
    let name = parts.get(1).map(|s| (*s).to_owned());
    let subresource = parts.get(2).map(|s| (*s).to_owned());
    let verb = match (http_verb, name.is_some()) {
        ("get", false) if watch => "watch",
        ("get", true) if watch => "watch",
        ("get", false) => "list",
        ("delete", false) => "deletecollection",
        (v, _) => v,
    };
    RequestInfo::Resource(ResourceRequest {
        verb: verb.to_owned(),
        group: group.0.to_owned(),
        version: group.1.to_owned(),
        resource,
        subresource,
        namespace,
        name,
    })
}

fn non_resource(path: &str, verb: &str) -> RequestInfo {
    RequestInfo::NonResource {
        path: path.to_owned(),
        verb: verb.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(method: &str, path: &str, watch: bool) -> ResourceRequest {
        match resolve(method, path, watch) {
            RequestInfo::Resource(r) => r,
            other => panic!("{path} resolved to {other:?}"),
        }
    }

    #[test]
    fn namespaced_collection_and_object() {
        let r = res("GET", "/api/v1/namespaces/team-a/pods", false);
        assert_eq!((r.verb.as_str(), r.resource.as_str()), ("list", "pods"));
        assert_eq!(r.namespace.as_deref(), Some("team-a"));
        assert_eq!(r.name, None);

        let r = res(
            "GET",
            "/apis/apps/v1/namespaces/team-a/deployments/web",
            false,
        );
        assert_eq!(r.group, "apps");
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.verb, "get");
    }

    #[test]
    fn namespace_objects_and_their_subresources() {
        let r = res("GET", "/api/v1/namespaces/team-a", false);
        assert_eq!(r.resource, "namespaces");
        assert_eq!(r.name.as_deref(), Some("team-a"));

        let r = res("PUT", "/api/v1/namespaces/team-a/status", false);
        assert_eq!(r.resource, "namespaces");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        assert_eq!(r.verb, "update");

        let r = res("GET", "/api/v1/namespaces", true);
        assert_eq!(r.verb, "watch");
        assert_eq!(r.namespace, None);
    }

    #[test]
    fn subresources_and_collection_verbs() {
        let r = res(
            "PATCH",
            "/apis/apps/v1/namespaces/a/deployments/web/status",
            false,
        );
        assert_eq!(
            (r.verb.as_str(), r.subresource.as_deref()),
            ("patch", Some("status"))
        );
        let r = res("DELETE", "/api/v1/namespaces/a/configmaps", false);
        assert_eq!(r.verb, "deletecollection");
        let r = res("DELETE", "/api/v1/namespaces/a/configmaps/x", false);
        assert_eq!(r.verb, "delete");
        let r = res(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            false,
        );
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str()),
            ("create", "selfsubjectaccessreviews")
        );
    }

    #[test]
    fn discovery_paths_are_not_resources() {
        for path in [
            "/version",
            "/api",
            "/apis",
            "/api/v1",
            "/apis/apps/v1",
            "/openapi/v2",
        ] {
            assert!(
                matches!(resolve("GET", path, false), RequestInfo::NonResource { .. }),
                "{path}"
            );
        }
    }
}

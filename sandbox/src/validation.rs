//! Validation of what a client sends: names and the fields each kind cannot do without.

use serde_json::Value;

use crate::status::Cause;

/// A DNS-1123 label: namespaces and most names that become DNS names.
pub fn dns1123_label(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.len() > 63 {
        return Some("must be no more than 63 characters".to_owned());
    }
    let bytes = name.as_bytes();
    let ok_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-';
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !bytes.iter().all(|c| ok_char(*c)) || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Some(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
             '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        );
    }
    None
}

/// A DNS-1123 subdomain: most object names.
pub fn dns1123_subdomain(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.len() > 253 {
        return Some("must be no more than 253 characters".to_owned());
    }
    let ok = name.split('.').all(|part| {
        let b = part.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    });
    if ok {
        None
    } else {
        Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                .to_owned(),
        )
    }
}

/// RBAC objects may carry `:` in their names (`system:masters`), like the real server allows.
fn path_segment_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        Some(format!(
            "may not be '.', '..', or contain '/' or '%': {name:?}"
        ))
    } else {
        None
    }
}

/// Checks name and required fields of an object of `kind` about to be stored.
pub fn validate(kind: &str, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name_problem = match kind {
        "Namespace" | "Service" => dns1123_label(name),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => path_segment_name(name),
        _ => dns1123_subdomain(name),
    };
    if let Some(problem) = name_problem {
        causes.push(invalid("metadata.name", name, &problem));
    }
    let mut require = |pointer: &str, field: &str| {
        let present = object
            .pointer(pointer)
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
        if !present {
            causes.push(Cause {
                reason: "FieldValueRequired",
                message: "Required value".to_owned(),
                field: field.to_owned(),
            });
        }
    };
    match kind {
        "Pod" => require("/spec/containers", "spec.containers"),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            require("/spec/selector", "spec.selector");
            require(
                "/spec/template/spec/containers",
                "spec.template.spec.containers",
            );
        }
        "Job" => require(
            "/spec/template/spec/containers",
            "spec.template.spec.containers",
        ),
        "CronJob" => {
            require("/spec/schedule", "spec.schedule");
            require("/spec/jobTemplate", "spec.jobTemplate");
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            require("/roleRef/kind", "roleRef.kind");
            require("/roleRef/name", "roleRef.name");
        }
        "CertificateSigningRequest" => {
            require("/spec/request", "spec.request");
            require("/spec/signerName", "spec.signerName");
        }
        _ => {}
    }
    causes
}

fn invalid(field: &str, value: &str, problem: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: {value:?}: {problem}"),
        field: field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_subdomains() {
        assert_eq!(dns1123_label("team-a"), None);
        assert!(dns1123_label("Team_A").is_some());
        assert!(dns1123_label("-a").is_some());
        assert!(dns1123_label(&"a".repeat(64)).is_some());
        assert!(dns1123_label("").is_some());
        assert_eq!(dns1123_subdomain("web.v1"), None);
        assert!(dns1123_subdomain("web..v1").is_some());
        assert!(dns1123_subdomain("Web").is_some());
    }

    #[test]
    fn kinds_need_their_fields() {
        let causes = validate(
            "Deployment",
            &json!({"metadata": {"name": "web"}, "spec": {}}),
        );
        let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.selector", "spec.template.spec.containers"]);
        assert!(validate("ConfigMap", &json!({"metadata": {"name": "c"}})).is_empty());
        assert!(validate("ClusterRole", &json!({"metadata": {"name": "system:view"}})).is_empty());
        assert_eq!(
            validate("Namespace", &json!({"metadata": {"name": "a.b"}})).len(),
            1
        );
    }
}

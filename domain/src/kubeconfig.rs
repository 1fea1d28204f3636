//! Kubeconfigs Berth hands out, and how long their certificates live.

use serde_json::json;

/// The Kubernetes CSR API's shortest certificate lifetime.
pub const MIN_CERT_SECONDS: i64 = 600;

/// The lifetime of a namespace kubeconfig's certificate: the configured one, cut to the
/// namespace's remaining life, never below the API's minimum. `Err` when the namespace ends
/// too soon for any certificate.
pub fn certificate_seconds(configured: i64, namespace_left: Option<i64>) -> Result<i64, String> {
    let wanted = configured.max(MIN_CERT_SECONDS);
    match namespace_left {
        Some(left) if left < MIN_CERT_SECONDS => Err(format!(
            "the namespace expires in {} s, less than the {MIN_CERT_SECONDS} s a certificate \
             must live; extend it first",
            left.max(0)
        )),
        Some(left) => Ok(wanted.min(left)),
        None => Ok(wanted),
    }
}

/// What a client-certificate kubeconfig holds. Certificates and keys are PEM text.
pub struct ClientCertificate<'a> {
    pub cluster_name: &'a str,
    pub server: &'a str,
    /// The cluster's CA, PEM; `None` to trust the system's roots.
    pub ca_pem: Option<&'a str>,
    /// The user entry's name (the identity is the certificate's).
    pub user: &'a str,
    pub namespace: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

/// A kubeconfig with one cluster, one user and one context set to the namespace.
pub fn client_certificate(k: &ClientCertificate<'_>, base64: impl Fn(&[u8]) -> String) -> String {
    crate::yaml::to_yaml(&client_certificate_doc(k, base64))
}

/// [`client_certificate`] as a document, to combine with others.
pub fn client_certificate_doc(
    k: &ClientCertificate<'_>,
    base64: impl Fn(&[u8]) -> String,
) -> serde_json::Value {
    let context = format!("{}@{}", k.namespace, k.cluster_name);
    let mut cluster = json!({ "server": k.server });
    if let Some(ca) = k.ca_pem {
        cluster["certificate-authority-data"] = json!(base64(ca.as_bytes()));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": k.cluster_name, "cluster": cluster }],
        "users": [{ "name": k.user, "user": {
            "client-certificate-data": base64(k.cert_pem.as_bytes()),
            "client-key-data": base64(k.key_pem.as_bytes()),
        }}],
        "contexts": [{ "name": context, "context": {
            "cluster": k.cluster_name, "user": k.user, "namespace": k.namespace,
        }}],
        "current-context": context,
    })
}

/// What an OIDC exec-plugin kubeconfig holds: no secret at all, kubectl signs in itself.
pub struct OidcExec<'a> {
    pub cluster_name: &'a str,
    pub server: &'a str,
    pub ca_pem: Option<&'a str>,
    pub namespace: &'a str,
    pub issuer_url: &'a str,
    pub client_id: &'a str,
}

/// A kubeconfig whose user runs `kubectl oidc-login get-token` (the kubelogin plugin) against
/// the issuer the cluster trusts, with the groups claim Berth maps to teams.
pub fn oidc_exec(k: &OidcExec<'_>, base64: impl Fn(&[u8]) -> String) -> String {
    crate::yaml::to_yaml(&oidc_exec_doc(k, base64))
}

/// [`oidc_exec`] as a document, to combine with others.
pub fn oidc_exec_doc(k: &OidcExec<'_>, base64: impl Fn(&[u8]) -> String) -> serde_json::Value {
    let context = format!("{}@{}", k.namespace, k.cluster_name);
    let user = format!("oidc@{}", k.cluster_name);
    let mut cluster = json!({ "server": k.server });
    if let Some(ca) = k.ca_pem {
        cluster["certificate-authority-data"] = json!(base64(ca.as_bytes()));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": k.cluster_name, "cluster": cluster }],
        "users": [{ "name": user, "user": { "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubectl",
            "args": [
                "oidc-login",
                "get-token",
                format!("--oidc-issuer-url={}", k.issuer_url),
                format!("--oidc-client-id={}", k.client_id),
                "--oidc-extra-scope=email",
                "--oidc-extra-scope=groups",
            ],
            "interactiveMode": "IfAvailable",
            "installHint": "Install the kubelogin plugin: https://github.com/int128/kubelogin",
        }}}],
        "contexts": [{ "name": context, "context": {
            "cluster": k.cluster_name, "user": user, "namespace": k.namespace,
        }}],
        "current-context": context,
    })
}

/// One kubeconfig of several: every context and user of each, the clusters once each (by
/// name: the namespaces of one cluster share its entry), the first's context current. Users
/// and contexts are named per namespace and cluster already, so none shadows another.
pub fn combine(docs: &[serde_json::Value]) -> serde_json::Value {
    use serde_json::Value;
    let mut out = json!({ "apiVersion": "v1", "kind": "Config" });
    for list in ["clusters", "users", "contexts"] {
        let mut entries: Vec<Value> = Vec::new();
        for entry in docs
            .iter()
            .flat_map(|d| d[list].as_array().into_iter().flatten())
        {
            if !entries.iter().any(|e| e["name"] == entry["name"]) {
                entries.push(entry.clone());
            }
        }
        out[list] = Value::Array(entries);
    }
    out["current-context"] = docs
        .first()
        .map(|d| d["current-context"].clone())
        .unwrap_or_else(|| json!(""));
    out
}

/// Adds `incoming`'s one cluster, user and context to `existing` under `name` (replacing
/// entries of that name, keeping every other), as `kubectl config` would; the current context
/// moves to it only when `switch`. `Err` says what `incoming` lacks.
pub fn merge(
    existing: serde_json::Value,
    incoming: &serde_json::Value,
    name: &str,
    switch: bool,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    let first = |list: &str, field: &str| -> Result<Value, String> {
        incoming[list][0][field]
            .as_object()
            .map(|o| Value::Object(o.clone()))
            .ok_or_else(|| format!("the kubeconfig Berth sent has no {list}"))
    };
    let cluster = first("clusters", "cluster")?;
    let user = first("users", "user")?;
    let mut context = first("contexts", "context")?;
    context["cluster"] = json!(name);
    context["user"] = json!(name);
    let mut doc = match existing {
        Value::Object(map) => Value::Object(map),
        _ => json!({}),
    };
    if doc["apiVersion"].is_null() {
        doc["apiVersion"] = json!("v1");
        doc["kind"] = json!("Config");
    }
    for (list, field, value) in [
        ("clusters", "cluster", cluster),
        ("users", "user", user),
        ("contexts", "context", context),
    ] {
        let mut entries: Vec<Value> = doc[list]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["name"] != json!(name))
            .collect();
        entries.push(json!({ "name": name, field: value }));
        doc[list] = Value::Array(entries);
    }
    if switch || doc["current-context"].as_str().is_none_or(str::is_empty) {
        doc["current-context"] = json!(name);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_grant_merges_under_its_own_name_and_keeps_the_rest() {
        let grant = json!({
            "clusters": [{ "name": "berth", "cluster": { "server": "https://k:6443" } }],
            "users": [{ "name": "jit:ar-1:dana", "user": { "client-key-data": "S0VZ" } }],
            "contexts": [{ "name": "ns@berth", "context": {
                "cluster": "berth", "user": "jit:ar-1:dana", "namespace": "shop" } }],
        });
        let mine = json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "work",
            "clusters": [{ "name": "work", "cluster": { "server": "https://w" } },
                         { "name": "berth-ar-1", "cluster": { "server": "https://old" } }],
            "users": [{ "name": "work", "user": { "token": "t" } }],
            "contexts": [{ "name": "work", "context": { "cluster": "work", "user": "work" } }],
        });
        let merged = merge(mine.clone(), &grant, "berth-ar-1", false).expect("merge");
        assert_eq!(merged["current-context"], "work");
        assert_eq!(merged["clusters"].as_array().map(Vec::len), Some(2));
        assert_eq!(merged["clusters"][1]["cluster"]["server"], "https://k:6443");
        assert_eq!(merged["users"][1]["user"]["client-key-data"], "S0VZ");
        let context = &merged["contexts"][1];
        assert_eq!(context["name"], "berth-ar-1");
        assert_eq!(context["context"]["namespace"], "shop");
        assert_eq!(context["context"]["user"], "berth-ar-1");
        assert_eq!(merged["users"][0]["user"]["token"], "t");
        let switched = merge(mine, &grant, "berth-ar-1", true).expect("merge");
        assert_eq!(switched["current-context"], "berth-ar-1");
        let fresh = merge(serde_json::Value::Null, &grant, "b", false).expect("merge");
        assert_eq!(fresh["current-context"], "b");
        assert_eq!(fresh["kind"], "Config");
        assert!(merge(json!({}), &json!({ "clusters": [] }), "b", false).is_err());
    }

    use super::*;

    #[test]
    fn namespaces_on_two_clusters_make_one_kubeconfig_with_a_context_each() {
        let cert = |namespace, cluster| {
            client_certificate_doc(
                &ClientCertificate {
                    cluster_name: cluster,
                    server: &format!("https://{cluster}:6443"),
                    ca_pem: Some("CA"),
                    user: &format!("dana/{namespace}@{cluster}"),
                    namespace,
                    cert_pem: "CERT",
                    key_pem: "KEY",
                },
                |b| String::from_utf8_lossy(b).into_owned(),
            )
        };
        let all = combine(&[
            cert("shop", "eu-prod"),
            cert("shop-dev", "eu-prod"),
            cert("edge", "us-dev"),
        ]);
        let names = |list: &str| -> Vec<String> {
            all[list]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(names("clusters"), ["eu-prod", "us-dev"]);
        assert_eq!(
            names("contexts"),
            ["shop@eu-prod", "shop-dev@eu-prod", "edge@us-dev"]
        );
        assert_eq!(names("users").len(), 3);
        assert_eq!(all["contexts"][2]["context"]["cluster"], "us-dev");
        assert_eq!(all["current-context"], "shop@eu-prod");
        assert_eq!(combine(&[])["contexts"], json!([]));
    }

    #[test]
    fn an_oidc_kubeconfig_carries_no_secret_and_names_issuer_and_client() {
        let text = oidc_exec(
            &OidcExec {
                cluster_name: "berth",
                server: "https://k8s.example.com:6443",
                ca_pem: Some("PEM"),
                namespace: "shop",
                issuer_url: "https://login.example.com",
                client_id: "kubectl",
            },
            |b| format!("b64({})", String::from_utf8_lossy(b)),
        );
        assert!(text.contains("command: kubectl"), "{text}");
        assert!(text.contains("- oidc-login"), "{text}");
        assert!(text.contains("--oidc-issuer-url=https://login.example.com"));
        assert!(text.contains("--oidc-client-id=kubectl"));
        assert!(text.contains("certificate-authority-data: b64(PEM)"));
        assert!(text.contains("namespace: shop"));
        assert!(!text.contains("client-key-data"));
        assert!(
            !text.contains("token:") && !text.contains("id-token"),
            "no token: {text}"
        );
    }

    #[test]
    fn certificates_end_with_the_namespace_but_never_below_ten_minutes() {
        assert_eq!(certificate_seconds(7 * 86_400, None), Ok(7 * 86_400));
        assert_eq!(certificate_seconds(7 * 86_400, Some(86_400)), Ok(86_400));
        assert_eq!(certificate_seconds(60, None), Ok(600));
        assert_eq!(certificate_seconds(60, Some(700)), Ok(600));
        assert!(certificate_seconds(3600, Some(599)).is_err());
        assert!(certificate_seconds(3600, Some(-5)).is_err());
    }

    #[test]
    fn the_kubeconfig_points_at_the_namespace() {
        let text = client_certificate(
            &ClientCertificate {
                cluster_name: "berth",
                server: "https://127.0.0.1:6443",
                ca_pem: Some("CA"),
                user: "demo:dana",
                namespace: "payments-x",
                cert_pem: "CERT",
                key_pem: "KEY",
            },
            |b| format!("b64({})", String::from_utf8_lossy(b)),
        );
        assert!(
            text.contains("current-context: payments-x@berth\n"),
            "{text}"
        );
        assert!(text.contains("    namespace: payments-x\n"), "{text}");
        assert!(
            text.contains("certificate-authority-data: b64(CA)"),
            "{text}"
        );
        assert!(text.contains("client-key-data: b64(KEY)"), "{text}");
        assert!(text.contains("server: https://127.0.0.1:6443"), "{text}");
    }
}

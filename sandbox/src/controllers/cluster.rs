//! Namespace defaults, ResourceQuota status, and signing of approved certificate requests.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::{Context, meta_str, rt};
use crate::admission;
use crate::quantity;
use crate::status::ApiError;
use crate::store::Part;

/// Every namespace gets a `default` ServiceAccount.
pub fn namespace(ctx: &mut Context<'_>, name: &str) -> Result<(), ApiError> {
    let ns = ctx.store.get(rt("", "namespaces"), "", name)?;
    if ns.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let accounts = rt("", "serviceaccounts");
    if ctx.store.get(accounts, name, "default").is_err() {
        let sa =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        match ctx.store.create(accounts, name, sa) {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `status.hard` mirrors `spec.hard`; `status.used` is what the namespace uses of each.
pub fn quota(ctx: &mut Context<'_>, ns: &str) -> Result<(), ApiError> {
    let quotas = rt("", "resourcequotas");
    let list = ctx.store.list_in(quotas, ns);
    if list.is_empty() {
        return Ok(());
    }
    let used = ctx
        .store
        .read(|tables| admission::namespace_usage(tables, ns));
    for q in list {
        let hard = q
            .pointer("/spec/hard")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut used_map = serde_json::Map::new();
        if let Some(h) = hard.as_object() {
            for resource in h.keys() {
                let value = used.get(resource).copied().unwrap_or(0.0);
                used_map.insert(resource.clone(), json!(quantity::format(resource, value)));
            }
        }
        let status = json!({"hard": hard, "used": used_map});
        if q.get("status") != Some(&status) {
            ctx.store
                .modify(quotas, ns, meta_str(&q, "name"), Part::Status, |obj| {
                    obj["status"] = status.clone();
                    Ok(())
                })?;
        }
    }
    Ok(())
}

const CLIENT_SIGNERS: [&str; 2] = [
    "kubernetes.io/kube-apiserver-client",
    "kubernetes.io/kube-apiserver-client-kubelet",
];

/// Approved client-certificate requests are signed by the sandbox CA, for `expirationSeconds`.
pub fn csr(ctx: &mut Context<'_>, name: &str) -> Result<(), ApiError> {
    let csrs = rt("certificates.k8s.io", "certificatesigningrequests");
    let csr = ctx.store.get(csrs, "", name)?;
    if csr
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return Ok(());
    }
    let conditions = csr
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |kind: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == kind && c["status"] != "False")
    };
    if !has("Approved") || has("Denied") || has("Failed") {
        return Ok(());
    }
    let signer = csr
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !CLIENT_SIGNERS.contains(&signer) {
        // Other signers are someone else's business, as in a real cluster.
        return Ok(());
    }
    let request = csr
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let outcome = base64::engine::general_purpose::STANDARD
        .decode(request)
        .map_err(|e| e.to_string())
        .and_then(|pem| String::from_utf8(pem).map_err(|e| e.to_string()))
        .and_then(|pem| {
            let seconds = csr
                .pointer("/spec/expirationSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(365 * 24 * 3600);
            ctx.authority
                .sign_csr(&pem, Duration::from_secs(seconds.max(1)))
                .map_err(|e| e.to_string())
        });
    ctx.store.modify(csrs, "", name, Part::Status, |obj| {
        match &outcome {
            Ok(cert) => {
                obj["status"]["certificate"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(cert.as_bytes()));
            }
            Err(why) => {
                let failed = json!({
                    "type": "Failed", "status": "True", "reason": "SigningError",
                    "message": format!("the request could not be signed: {why}"),
                    "lastUpdateTime": super::now(), "lastTransitionTime": super::now(),
                });
                match obj
                    .pointer_mut("/status/conditions")
                    .and_then(Value::as_array_mut)
                {
                    Some(list) => list.push(failed),
                    None => obj["status"]["conditions"] = json!([failed]),
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

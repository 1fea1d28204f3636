//! Kubeconfig text for a cluster on loopback, and a kube-rs client from it.

use base64::Engine;

/// How a kubeconfig's user authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Credentials<'a> {
    /// A client certificate and its key, both PEM.
    Cert {
        cert_pem: &'a str,
        key_pem: &'a str,
    },
    Token(&'a str),
}

/// A kubeconfig with one cluster, one user and one context, current.
pub fn render(server: &str, ca_pem: &str, user: &str, credentials: Credentials<'_>) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let credentials = match credentials {
        Credentials::Cert { cert_pem, key_pem } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert_pem),
            b64(key_pem)
        ),
        Credentials::Token(t) => format!("    token: {t}\n"),
    };
    // Quoted: user names such as `system:serviceaccount:berth:berth` hold colons.
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts:\n- name: \"{user}@sandbox\"\n  context:\n    cluster: sandbox\n    user: \"{user}\"\n    namespace: default\ncurrent-context: \"{user}@sandbox\"\nusers:\n- name: \"{user}\"\n  user:\n{credentials}",
        b64(ca_pem),
    )
}

/// Writes a file only its owner can read: kubeconfigs and keys.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// A kube-rs client for `kubeconfig` text.
pub async fn client(kubeconfig: &str) -> Result<kube::Client, String> {
    let parsed = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| e.to_string())?;
    let config =
        kube::Config::from_custom_kubeconfig(parsed, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_kubeconfig_parses_with_its_user_current() {
        let text = render(
            "https://127.0.0.1:6443",
            "ca",
            "system:serviceaccount:berth:berth",
            Credentials::Token("t0k"),
        );
        let parsed = kube::config::Kubeconfig::from_yaml(&text).expect("parses");
        assert_eq!(
            parsed.current_context.as_deref(),
            Some("system:serviceaccount:berth:berth@sandbox")
        );
        let user = parsed.auth_infos[0].auth_info.as_ref().expect("user");
        assert!(user.token.is_some());
    }
}

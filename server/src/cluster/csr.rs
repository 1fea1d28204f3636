//! Client certificates issued through the CertificateSigningRequest API: Berth makes the key,
//! asks, approves and collects. The key never leaves the answer it is returned in.

use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestSpec,
    CertificateSigningRequestStatus,
};
use kube::api::{Api, PostParams};

use super::Cluster;

/// How long Berth waits for the signer once it approved.
const SIGNING_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("cannot make a key or signing request: {0}")]
    Key(String),
    #[error("the cluster refused the signing request: {0}")]
    Cluster(String),
    #[error("the cluster approved but did not sign within {} s", SIGNING_WAIT.as_secs())]
    NotSigned,
}

/// A signed certificate and its private key, PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    /// The CSR object's name, for the audit trail.
    pub csr_name: String,
}

impl Cluster {
    /// A client certificate for `user` in `group`, valid for `seconds`, signed by the cluster.
    pub async fn issue_client_certificate(
        &self,
        user: &str,
        group: &str,
        seconds: i64,
    ) -> Result<Issued, CsrError> {
        let key = rcgen::KeyPair::generate().map_err(|e| CsrError::Key(e.to_string()))?;
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, user);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, group);
        let request_pem = params
            .serialize_request(&key)
            .and_then(|r| r.pem())
            .map_err(|e| CsrError::Key(e.to_string()))?;
        let name = format!("berth-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut csr = CertificateSigningRequest {
            spec: CertificateSigningRequestSpec {
                request: ByteString(request_pem.into_bytes()),
                signer_name: "kubernetes.io/kube-apiserver-client".to_owned(),
                expiration_seconds: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
                usages: Some(vec!["client auth".to_owned()]),
                ..Default::default()
            },
            ..Default::default()
        };
        csr.metadata.name = Some(name.clone());
        csr.metadata.labels = Some(
            [(
                domain::tenancy::MANAGED_BY.0.to_owned(),
                domain::tenancy::MANAGED_BY.1.to_owned(),
            )]
            .into(),
        );
        let api: Api<CertificateSigningRequest> = Api::all(self.client().clone());
        let fail = |e: kube::Error| CsrError::Cluster(e.to_string());
        let mut created = api
            .create(&PostParams::default(), &csr)
            .await
            .map_err(fail)?;
        created.status = Some(CertificateSigningRequestStatus {
            conditions: Some(vec![CertificateSigningRequestCondition {
                type_: "Approved".to_owned(),
                status: "True".to_owned(),
                reason: Some("BerthNamespaceKubeconfig".to_owned()),
                message: Some(format!("approved by Berth for {user}")),
                ..Default::default()
            }]),
            ..Default::default()
        });
        api.replace_subresource("approval", &name, &PostParams::default(), &created)
            .await
            .map_err(fail)?;
        let deadline = Instant::now() + SIGNING_WAIT;
        loop {
            let current = api.get(&name).await.map_err(fail)?;
            if let Some(cert) = current.status.and_then(|s| s.certificate) {
                let cert_pem =
                    String::from_utf8(cert.0).map_err(|e| CsrError::Cluster(e.to_string()))?;
                return Ok(Issued {
                    cert_pem,
                    key_pem: key.serialize_pem(),
                    csr_name: name,
                });
            }
            if Instant::now() > deadline {
                return Err(CsrError::NotSigned);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

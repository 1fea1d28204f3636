//! The sandbox's certificate authority: the serving certificate, client certificates for users
//! (CN = user, O = group), and signing of CertificateSigningRequests.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("a client certificate carries at most two groups (O entries); got {0}")]
    TooManyGroups(usize),
    #[error("invalid certificate signing request: {0}")]
    BadRequest(String),
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Authority {
    ca_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = time::OffsetDateTime::now_utc();
    // A minute of slack for clocks that disagree a little, as real issuers allow.
    params.not_before = now - time::Duration::minutes(1);
    params.not_after =
        now + time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2));
}

impl Authority {
    pub fn new() -> Result<Authority, PkiError> {
        Authority::named("berth-sandbox-ca")
    }

    /// A new self-signed authority whose subject is `common_name`.
    pub fn named(common_name: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, Duration::from_secs(10 * 365 * 24 * 3600));
        let cert = params.self_signed(&key)?;
        Ok(Authority {
            ca_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// An authority kept from an earlier run (its certificate and key, both PEM).
    pub fn from_pem(ca_pem: &str, key_pem: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Authority {
            ca_pem: ca_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer: Issuer::from_ca_cert_pem(ca_pem, key)?,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The authority's private key, for components that sign with it (the controller
    /// manager's CSR signer).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A serving certificate for `common_name` valid for the given DNS names and IPs.
    pub fn serving_cert_for(
        &self,
        common_name: &str,
        dns: &[&str],
        ips: &[std::net::IpAddr],
    ) -> Result<CertAndKey, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        let mut sans = Vec::new();
        for name in dns {
            sans.push(SanType::DnsName((*name).try_into()?));
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        validity(&mut params, Duration::from_secs(365 * 24 * 3600));
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The API server's own certificate, for 127.0.0.1 and localhost.
    pub fn serving_cert(&self) -> Result<CertAndKey, PkiError> {
        self.serving_cert_for(
            "kube-apiserver",
            &["localhost", "kubernetes.default.svc"],
            &[std::net::IpAddr::from([127, 0, 0, 1])],
        )
    }

    /// A client certificate authenticating as `user` in `groups`.
    pub fn client_cert(
        &self,
        user: &str,
        groups: &[&str],
        lifetime: Duration,
    ) -> Result<CertAndKey, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(user, groups)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        validity(&mut params, lifetime);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs a PEM CSR for client authentication, valid for `lifetime`; the subject is the CSR's.
    pub fn sign_csr(&self, csr_pem: &str, lifetime: Duration) -> Result<String, PkiError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| PkiError::BadRequest(e.to_string()))?;
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        csr.params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        validity(&mut csr.params, lifetime);
        Ok(csr.signed_by(&self.issuer)?.pem())
    }
}

fn subject(user: &str, groups: &[&str]) -> Result<DistinguishedName, PkiError> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, user);
    match groups {
        [] => {}
        [one] => dn.push(DnType::OrganizationName, *one),
        [one, two] => {
            // rcgen keeps one value per attribute type; the second O goes in under the same OID
            // spelled as a custom type, which encodes identically.
            dn.push(DnType::OrganizationName, *one);
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), *two);
        }
        more => return Err(PkiError::TooManyGroups(more.len())),
    }
    Ok(dn)
}

/// The user (CN) and groups (every O) of a DER certificate.
pub fn identity_of(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let user = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_owned))
        .collect();
    Some((user, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der_of(pem_text: &str) -> Vec<u8> {
        let parsed = pem::parse(pem_text).expect("pem");
        parsed.contents().to_vec()
    }

    #[test]
    fn client_certs_carry_user_and_groups() {
        let ca = Authority::new().expect("ca");
        let cert = ca
            .client_cert("alice", &["team-a", "devs"], Duration::from_secs(600))
            .expect("cert");
        let (user, groups) = identity_of(&der_of(&cert.cert_pem)).expect("identity");
        assert_eq!(user, "alice");
        assert_eq!(groups, ["team-a", "devs"]);
        assert!(
            ca.client_cert("bob", &["a", "b", "c"], Duration::from_secs(60))
                .is_err()
        );
    }

    #[test]
    fn signs_a_csr_with_its_subject() {
        let ca = Authority::new().expect("ca");
        // An authority reloaded from its PEM signs as the original did.
        let ca = Authority::from_pem(ca.ca_pem(), ca.key_pem()).expect("reloaded");
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.distinguished_name = subject("carol", &["sre"]).expect("dn");
        let csr = params
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem");
        let signed = ca.sign_csr(&csr, Duration::from_secs(600)).expect("signed");
        let (user, groups) = identity_of(&der_of(&signed)).expect("identity");
        assert_eq!((user.as_str(), groups), ("carol", vec!["sre".to_owned()]));
    }
}

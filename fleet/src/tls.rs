//! Certificates of a fleet: a project CA that devices pin and that issues server certificates
//! (`compose keys`), the server's device CA (kept in the database, so every replica issues
//! and trusts the same) that issues each accepted device its certificate from the request the
//! device signed with its own key, and the server's TLS settings that ask
//! every client for a certificate (mutual TLS) without requiring one, so admins still come
//! with tokens while a device is known by its certificate (see [`Peer`]).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use axum::Extension;
use axum::middleware::AddExtension;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tower_layer::Layer;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot make a certificate: {0}")]
    Make(String),
    #[error(
        "the certificate signing request is not valid: {0}\nhelp: send a PEM CSR signed by the device's own key (compose-update makes one)"
    )]
    Request(String),
    #[error("TLS settings: {0}")]
    Config(String),
}

/// A CA made here: its certificate and key, both PEM.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MadeCa {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A new CA named `name` (ECDSA P-256), allowed to issue end-entity certificates only.
pub fn make_ca(name: &str) -> Result<MadeCa, TlsError> {
    let make = |e: rcgen::Error| TlsError::Make(e.to_string());
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(make)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(make)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).map_err(make)?;
    Ok(MadeCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A CA loaded to issue certificates.
pub struct Issuer {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA's certificate as it was made (what clients trust).
    pub cert_pem: String,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

impl Issuer {
    /// The CA whose PEM certificate and key are `cert_pem` and `key_pem` (`what` names them
    /// in errors).
    pub fn from_pem(cert_pem: &str, key_pem: &str, what: &Path) -> Result<Issuer, TlsError> {
        let bad = |e: rcgen::Error| TlsError::File {
            path: what.to_path_buf(),
            message: format!("not a CA certificate and key this server made: {e}"),
        };
        let key = KeyPair::from_pem(key_pem).map_err(bad)?;
        // Signing the parameters again gives the same subject and key: issued certificates
        // chain to the certificate as it was made.
        let cert = CertificateParams::from_ca_cert_pem(cert_pem)
            .and_then(|p| p.self_signed(&key))
            .map_err(bad)?;
        Ok(Issuer {
            cert,
            key,
            cert_pem: cert_pem.to_string(),
        })
    }

    fn serial() -> rcgen::SerialNumber {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the kernel gives random bytes");
        bytes[0] &= 0x7f;
        rcgen::SerialNumber::from_slice(&bytes)
    }

    /// A server certificate for `names` (DNS names or IP addresses) with a new key: the chain
    /// (the certificate, then this CA) and the key, PEM.
    pub fn issue_server(&self, names: &[String]) -> Result<(String, String), TlsError> {
        let make = |e: rcgen::Error| TlsError::Make(e.to_string());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(make)?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(make)?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("compose"),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(Self::serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(make)?;
        Ok((
            format!("{}{}", cert.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }

    /// A client certificate for the key of `request` with the common name `id`, valid from
    /// a minute ago (clocks differ a little) until `lifetime` from `now` (Unix seconds).
    pub fn issue_device(
        &self,
        request: &DeviceRequest,
        id: &str,
        now: u64,
        lifetime: std::time::Duration,
    ) -> Result<Issued, TlsError> {
        let make = |e: rcgen::Error| TlsError::Make(e.to_string());
        let at = |unix: u64| {
            time::OffsetDateTime::from_unix_timestamp(unix as i64)
                .map_err(|e| TlsError::Make(format!("a certificate's time: {e}")))
        };
        let expires_at = now + lifetime.as_secs().max(1);
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(make)?;
        params.not_before = at(now.saturating_sub(60))?;
        params.not_after = at(expires_at)?;
        params.distinguished_name.push(DnType::CommonName, id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(Self::serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&request.params.public_key, &self.cert, &self.key)
            .map_err(make)?;
        Ok(Issued {
            sha256: compose_update::sha256_hex(cert.der()),
            pem: cert.pem(),
            expires_at,
        })
    }
}

/// A device's certificate signing request, its signature checked.
pub struct DeviceRequest {
    params: CertificateSigningRequestParams,
    /// SHA-256 of the key's raw bytes (as `compose_update::identity` names it).
    pub key_sha256: String,
}

impl std::fmt::Debug for DeviceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRequest")
            .field("key_sha256", &self.key_sha256)
            .finish_non_exhaustive()
    }
}

impl DeviceRequest {
    pub fn parse(pem: &str) -> Result<DeviceRequest, TlsError> {
        let params = CertificateSigningRequestParams::from_pem(pem)
            .map_err(|e| TlsError::Request(e.to_string()))?;
        let key_sha256 = compose_update::sha256_hex(params.public_key.der_bytes());
        Ok(DeviceRequest { params, key_sha256 })
    }
}

/// A certificate issued: PEM, and the SHA-256 of its DER (how a connection names it).
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    pub sha256: String,
    /// Its last second of validity (Unix seconds).
    pub expires_at: u64,
}

/// A server's TLS settings: its certificate chain and key (PEM files), and, with `device_ca`,
/// clients asked for a certificate from it (a client without one is let in; see [`Peer`]).
pub fn server_config(
    cert: &Path,
    key: &Path,
    device_ca: Option<&Issuer>,
) -> Result<RustlsConfig, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| TlsError::File {
            path: cert.to_path_buf(),
            message: format!("no PEM certificate chain: {e}"),
        })?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        path: key.to_path_buf(),
        message: format!("no PEM private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match device_ca {
        None => builder.with_no_client_auth(),
        Some(device_ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let ca = CertificateDer::from_pem_slice(device_ca.cert_pem.as_bytes())
                .map_err(|e| TlsError::Config(format!("device CA: {e}")))?;
            roots
                .add(ca)
                .map_err(|e| TlsError::Config(format!("device CA: {e}")))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Config(format!("{} and {}: {e}", cert.display(), key.display())))?;
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// What a TLS connection says of its client, for every request on it: the SHA-256 of the
/// certificate it showed (verified against the device CA), if any. Requests over plain HTTP
/// carry no `Peer`.
#[derive(Debug, Clone)]
pub struct Peer {
    pub cert_sha256: Option<String>,
}

/// axum-server's rustls acceptor, adding a [`Peer`] to each connection's requests.
#[derive(Debug, Clone)]
pub struct PeerAcceptor {
    inner: RustlsAcceptor,
}

impl PeerAcceptor {
    pub fn new(config: RustlsConfig) -> PeerAcceptor {
        PeerAcceptor {
            inner: RustlsAcceptor::new(config),
        }
    }
}

type Accepted<I, S> = io::Result<(tokio_rustls::server::TlsStream<I>, AddExtension<S, Peer>)>;

impl<I, S> Accept<I, S> for PeerAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = tokio_rustls::server::TlsStream<I>;
    type Service = AddExtension<S, Peer>;
    type Future = Pin<Box<dyn Future<Output = Accepted<I, S>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let acceptor = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = acceptor.accept(stream, service).await?;
            let cert_sha256 = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| compose_update::sha256_hex(cert));
            Ok((stream, Extension(Peer { cert_sha256 }).layer(service)))
        })
    }
}

//! Turning a [`TlsConfig`] into a rustls client configuration.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::{TlsConfig, TlsVersion};
use crate::error::HttpConfigError;

/// Where Linux distributions keep the system CA bundle; the same list Go consults, so a host
/// where Prometheus trusts a server trusts it here too.
const SYSTEM_CA_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, HttpConfigError> {
    std::fs::read(path).map_err(|source| HttpConfigError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certs(what: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, HttpConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HttpConfigError::Pem {
            what,
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(HttpConfigError::Pem {
            what,
            message: "no PEM certificate found".into(),
        });
    }
    Ok(certs)
}

fn roots(cfg: &TlsConfig) -> Result<RootCertStore, HttpConfigError> {
    let mut store = RootCertStore::empty();
    let pem = if !cfg.ca.is_empty() {
        cfg.ca.as_bytes().to_vec()
    } else if let Some(path) = &cfg.ca_file {
        read("ca", path)?
    } else {
        let env_file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
        let found = env_file
            .into_iter()
            .chain(SYSTEM_CA_FILES.iter().map(std::path::PathBuf::from))
            .find_map(|p| std::fs::read(p).ok());
        match found {
            Some(pem) => pem,
            // No system bundle: an empty store fails every verification with a clear
            // "unknown issuer" instead of refusing to start.
            None => return Ok(store),
        }
    };
    for cert in certs("ca", &pem)? {
        // A bundle may hold certificates rustls cannot use; skipping them matches Go, which
        // ignores unparsable entries in system bundles.
        let _ = store.add(cert);
    }
    if store.is_empty() {
        return Err(HttpConfigError::Pem {
            what: "ca",
            message: "no usable CA certificate found".into(),
        });
    }
    Ok(store)
}

fn client_identity(
    cfg: &TlsConfig,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, HttpConfigError> {
    let cert_pem = if !cfg.cert.is_empty() {
        cfg.cert.as_bytes().to_vec()
    } else if let Some(path) = &cfg.cert_file {
        read("cert", path)?
    } else {
        return Ok(None);
    };
    let key_pem = if !cfg.key.is_empty() {
        cfg.key.expose().as_bytes().to_vec()
    } else if let Some(path) = &cfg.key_file {
        read("key", path)?
    } else {
        return Err(HttpConfigError::Invalid(
            "client certificate configured without a key".into(),
        ));
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| HttpConfigError::Pem {
        what: "key",
        message: e.to_string(),
    })?;
    Ok(Some((certs("cert", &cert_pem)?, key)))
}

/// Builds the rustls configuration for `cfg`, advertising HTTP/2 through ALPN only when asked.
pub(crate) fn client_config(
    cfg: &TlsConfig,
    enable_http2: bool,
) -> Result<ClientConfig, HttpConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // rustls implements TLS 1.2 and 1.3 only; older minimums therefore mean 1.2.
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match (cfg.min_version, cfg.max_version) {
            (Some(TlsVersion::TLS13), _) => &[&rustls::version::TLS13],
            (_, Some(TlsVersion::TLS12 | TlsVersion::TLS11 | TlsVersion::TLS10)) => {
                &[&rustls::version::TLS12]
            }
            _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
        };
    let builder =
        ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let verifier: Arc<dyn ServerCertVerifier> = if cfg.insecure_skip_verify {
        Arc::new(AcceptAnyCertificate { provider })
    } else {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(cfg)?), provider)
            .build()
            .map_err(|e| HttpConfigError::Invalid(format!("unable to use CA certificates: {e}")))?;
        if cfg.server_name.is_empty() {
            webpki
        } else {
            let name = ServerName::try_from(cfg.server_name.clone()).map_err(|_| {
                HttpConfigError::Invalid(format!(
                    "invalid tls_config.server_name {:?}",
                    cfg.server_name
                ))
            })?;
            Arc::new(FixedServerName {
                inner: webpki,
                name,
            })
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(cfg)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Verifies the server certificate against `tls_config.server_name` instead of the URL host,
/// for targets addressed by IP whose certificates name a DNS name.
#[derive(Debug)]
struct FixedServerName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedServerName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: trusts any certificate but still checks that the server holds its
/// key, so the handshake itself stays sound.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_build() {
        assert!(client_config(&TlsConfig::default(), true).is_ok());
    }

    #[test]
    fn missing_ca_file_names_the_file() {
        let cfg = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let err = client_config(&cfg, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("unable to read ca file /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn garbage_ca_is_rejected() {
        let cfg = TlsConfig {
            ca: "not a certificate".into(),
            ..TlsConfig::default()
        };
        let err = client_config(&cfg, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unable to load ca"), "{err}");
    }

    #[test]
    fn insecure_and_server_name_build() {
        let cfg = TlsConfig {
            insecure_skip_verify: true,
            min_version: Some(TlsVersion::TLS13),
            ..TlsConfig::default()
        };
        assert!(client_config(&cfg, false).is_ok());
        let cfg = TlsConfig {
            server_name: "example.org".into(),
            ..TlsConfig::default()
        };
        assert!(client_config(&cfg, false).is_ok());
    }
}

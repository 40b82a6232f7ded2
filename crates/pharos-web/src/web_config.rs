//! `--web.config.file`: TLS, client certificates, basic auth and security headers, in the file
//! format of the Prometheus exporter toolkit so existing `web-config.yml` files work unchanged.
//!
//! Loading validates everything up front (unknown fields, bad hashes, unreadable certificates,
//! options rustls cannot honour) so a mistake stops the exporter or server with a message
//! naming the problem at start-up, instead of surfacing as a failed handshake at 3 a.m.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::Deserialize;

use crate::basic_auth::BasicAuth;

/// The file as written by users.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// TLS settings; absent or without certificate means plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// HTTP settings.
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, String>>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain file, relative to the config file's directory.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// PEM private key file.
    #[serde(default)]
    pub key_file: Option<String>,
    /// Inline PEM certificate chain (instead of `cert_file`).
    #[serde(default)]
    pub cert: Option<String>,
    /// Inline PEM private key (instead of `key_file`).
    #[serde(default)]
    pub key: Option<String>,
    /// One of Go's `tls.ClientAuthType` names.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// PEM file of CAs that sign client certificates.
    #[serde(default)]
    pub client_ca_file: Option<String>,
    /// Subject alternative names a client certificate must carry one of.
    #[serde(default)]
    pub client_allowed_sans: Option<Vec<String>>,
    /// `TLS10` .. `TLS13`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// `TLS10` .. `TLS13`.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Go names of the TLS 1.2 cipher suites to allow.
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
    /// Whether the server's suite order wins over the client's.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    /// Go names of the key exchange groups, in preference order.
    #[serde(default)]
    pub curve_preferences: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Whether to offer HTTP/2; Pharos serves HTTP/1.1 only, so `true` is accepted and ignored.
    #[serde(default)]
    pub http2: Option<bool>,
    /// Security headers added to every response.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// A web config file that was read, validated and turned into what the server needs.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS acceptor settings; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic auth users; `None` lets every request through.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.basic_auth.is_some())
            .field("headers", &self.headers)
            .finish()
    }
}

/// What is wrong with a web config file.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file (or a file it names) could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML did not parse or has unknown fields.
    #[error("parsing web config {path}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A setting is invalid.
    #[error("web config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Headers the exporter toolkit allows in `http_server_config.headers`; anything else is a
/// mistake (or an attempt to override something the server must control).
const ALLOWED_HEADERS: &[&str] = &[
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
];

impl WebConfig {
    /// Reads and validates `path`. Relative file names inside it are taken relative to the
    /// directory holding it, like the exporter toolkit does.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` names the file in errors and anchors
    /// relative file names.
    pub fn parse(text: &str, path: &Path) -> Result<WebConfig, WebConfigError> {
        let invalid = |message: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: WebConfigFile = if is_blank_yaml(text) {
            WebConfigFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| WebConfigError::Yaml {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
        };
        let base = path.parent().unwrap_or(Path::new("."));

        let mut headers = Vec::new();
        if let Some(http) = &file.http_server_config {
            for (name, value) in http.headers.iter().flatten() {
                let Some(canonical) = ALLOWED_HEADERS
                    .iter()
                    .find(|h| h.eq_ignore_ascii_case(name))
                else {
                    return Err(invalid(format!(
                        "header {name:?} is not allowed in http_server_config.headers (allowed: {})",
                        ALLOWED_HEADERS.join(", ")
                    )));
                };
                let value = HeaderValue::from_str(value).map_err(|_| {
                    invalid(format!(
                        "header {canonical}: value {value:?} is not a valid header value"
                    ))
                })?;
                let name = HeaderName::from_bytes(canonical.to_ascii_lowercase().as_bytes())
                    .map_err(|_| invalid(format!("header name {canonical:?} is invalid")))?;
                headers.push((name, value));
            }
        }

        let basic_auth = match &file.basic_auth_users {
            Some(users) if !users.is_empty() => {
                Some(Arc::new(BasicAuth::new(users.clone()).map_err(invalid)?))
            }
            _ => None,
        };

        let tls = match &file.tls_server_config {
            Some(tls) => build_tls(tls, base).map_err(invalid)?.map(Arc::new),
            None => None,
        };
        Ok(WebConfig {
            tls,
            basic_auth,
            headers,
        })
    }
}

/// True when the text holds no YAML node at all (only blank lines and comments), which the
/// exporter toolkit treats as an empty config.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

fn build_tls(cfg: &TlsServerConfig, base: &Path) -> Result<Option<rustls::ServerConfig>, String> {
    let has_cert = cfg.cert_file.as_deref().is_some_and(|s| !s.is_empty())
        || cfg.cert.as_deref().is_some_and(|s| !s.is_empty());
    let has_key = cfg.key_file.as_deref().is_some_and(|s| !s.is_empty())
        || cfg.key.as_deref().is_some_and(|s| !s.is_empty());
    if !has_cert && !has_key {
        // The toolkit serves plain HTTP when no certificate is configured.
        return Ok(None);
    }
    if !has_cert {
        return Err("tls_server_config: missing cert_file or cert".into());
    }
    if !has_key {
        return Err("tls_server_config: missing key_file or key".into());
    }
    if cfg.cert_file.is_some() && cfg.cert.is_some() {
        return Err("tls_server_config: set cert_file or cert, not both".into());
    }
    if cfg.key_file.is_some() && cfg.key.is_some() {
        return Err("tls_server_config: set key_file or key, not both".into());
    }

    let resolve = |p: &str| base.join(p);
    let certs: Vec<CertificateDer<'static>> = match (&cfg.cert_file, &cfg.cert) {
        (Some(f), _) => {
            let path = resolve(f);
            CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("reading cert_file {}: {e}", path.display()))?
        }
        (None, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("parsing inline cert: {e}"))?,
        (None, None) => Vec::new(),
    };
    if certs.is_empty() {
        return Err("tls_server_config: the certificate holds no PEM CERTIFICATE block".into());
    }
    let key: PrivateKeyDer<'static> = match (&cfg.key_file, &cfg.key) {
        (Some(f), _) => {
            let path = resolve(f);
            PrivateKeyDer::from_pem_file(&path)
                .map_err(|e| format!("reading key_file {}: {e}", path.display()))?
        }
        (None, Some(pem)) => PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("parsing inline key: {e}"))?,
        (None, None) => return Err("tls_server_config: missing key".into()),
    };

    let provider = Arc::new(crypto_provider(cfg)?);
    let versions = protocol_versions(cfg)?;
    let verifier = client_verifier(cfg, base, &provider)?;
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("tls_server_config: certificate and key do not form a usable pair: {e}")
        })?;
    server.ignore_client_order = cfg.prefer_server_cipher_suites.unwrap_or(true);
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(server))
}

/// The ring provider narrowed to the configured cipher suites and curves.
fn crypto_provider(cfg: &TlsServerConfig) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(wanted) = cfg.cipher_suites.as_ref().filter(|w| !w.is_empty()) {
        let mut suites: Vec<rustls::SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for name in wanted {
            let normalized = if name.ends_with("CHACHA20_POLY1305") {
                format!("{name}_SHA256")
            } else {
                name.clone()
            };
            let suite = provider
                .cipher_suites
                .iter()
                .find(|s| {
                    s.version() == &rustls::version::TLS12
                        && format!("{:?}", s.suite()) == normalized
                })
                .ok_or_else(|| {
                    format!(
                        "cipher suite {name:?} is unknown or not supported (supported: {})",
                        provider
                            .cipher_suites
                            .iter()
                            .filter(|s| s.version() == &rustls::version::TLS12)
                            .map(|s| format!("{:?}", s.suite()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            suites.push(*suite);
        }
        provider.cipher_suites = suites;
    }
    if let Some(curves) = cfg.curve_preferences.as_ref().filter(|c| !c.is_empty()) {
        let mut groups = Vec::with_capacity(curves.len());
        for curve in curves {
            let group = match curve.as_str() {
                "X25519" => rustls::crypto::ring::kx_group::X25519,
                "CurveP256" => rustls::crypto::ring::kx_group::SECP256R1,
                "CurveP384" => rustls::crypto::ring::kx_group::SECP384R1,
                "CurveP521" => {
                    return Err("curve CurveP521 is not supported by Pharos's TLS library".into())
                }
                other => {
                    return Err(format!(
                        "unknown curve {other:?} (known: X25519, CurveP256, CurveP384, CurveP521)"
                    ))
                }
            };
            groups.push(group);
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn parse_version(v: &str) -> Result<u8, String> {
    match v {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!(
            "unknown TLS version {other:?} (known: TLS10, TLS11, TLS12, TLS13)"
        )),
    }
}

fn protocol_versions(
    cfg: &TlsServerConfig,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    // The toolkit's default minimum is TLS 1.2; TLS 1.0/1.1 cannot be served by rustls at all,
    // so a lower minimum just means "1.2 and up".
    let min = cfg
        .min_version
        .as_deref()
        .map(parse_version)
        .transpose()?
        .unwrap_or(12);
    let max = cfg
        .max_version
        .as_deref()
        .map(parse_version)
        .transpose()?
        .unwrap_or(13);
    if min > max {
        return Err(format!(
            "min_version TLS{min} is above max_version TLS{max}"
        ));
    }
    if max < 12 {
        return Err("max_version below TLS12 is not supported: TLS 1.0 and 1.1 are insecure and unavailable".into());
    }
    let mut versions = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

fn client_verifier(
    cfg: &TlsServerConfig,
    base: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let auth = cfg.client_auth_type.as_deref().unwrap_or("");
    let ca_file = cfg.client_ca_file.as_deref().filter(|s| !s.is_empty());
    let roots = match ca_file {
        Some(f) => {
            let path = base.join(f);
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("reading client_ca_file {}: {e}", path.display()))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "client_ca_file {} holds no usable CA certificate",
                    path.display()
                ));
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let needs_roots = |kind: &str| -> Result<Arc<rustls::RootCertStore>, String> {
        roots
            .clone()
            .ok_or_else(|| format!("client_auth_type {kind} needs client_ca_file"))
    };
    let verifier: Arc<dyn ClientCertVerifier> = match auth {
        "" | "NoClientCert" => {
            if roots.is_some() {
                return Err("Client CA's have been configured without a Client Auth Policy (set client_auth_type)".into());
            }
            Arc::new(NoClientAuth)
        }
        "RequestClientCert" => Arc::new(AnyClientCert { provider: Arc::clone(provider), mandatory: false }),
        "RequireAnyClientCert" | "RequireClientCert" => {
            Arc::new(AnyClientCert { provider: Arc::clone(provider), mandatory: true })
        }
        "VerifyClientCertIfGiven" => {
            WebPkiClientVerifier::builder_with_provider(needs_roots(auth)?, Arc::clone(provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("client_ca_file: {e}"))?
        }
        "RequireAndVerifyClientCert" => {
            WebPkiClientVerifier::builder_with_provider(needs_roots(auth)?, Arc::clone(provider))
                .build()
                .map_err(|e| format!("client_ca_file: {e}"))?
        }
        other => {
            return Err(format!(
                "Invalid ClientAuth: {other:?} (known: NoClientCert, RequestClientCert, RequireAnyClientCert, \
                 VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    match cfg.client_allowed_sans.as_ref().filter(|s| !s.is_empty()) {
        None => Ok(verifier),
        Some(sans) => {
            let mut allowed = Vec::with_capacity(sans.len());
            for san in sans {
                let name = ServerName::try_from(san.clone()).map_err(|_| {
                    format!("client_allowed_sans: {san:?} is neither a DNS name nor an IP address")
                })?;
                allowed.push(name);
            }
            Ok(Arc::new(AllowedSans {
                inner: verifier,
                allowed,
            }))
        }
    }
}

/// Asks for no client certificate. rustls's own `NoClientAuth` is not public, so this is the
/// equivalent behind the same trait as the other policies.
#[derive(Debug)]
struct NoClientAuth;

impl ClientCertVerifier for NoClientAuth {
    fn offer_client_auth(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not accepted".into(),
        ))
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not accepted".into(),
        ))
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not accepted".into(),
        ))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Vec::new()
    }
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: any certificate is accepted without
/// checking who issued it, but the client must still prove it holds the key.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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

/// `client_allowed_sans`: after the configured policy accepts a certificate, it must also name
/// one of the allowed DNS names or IP addresses.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| rustls::Error::General(format!("client certificate: {e}")))?;
        if self
            .allowed
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(name).is_ok())
        {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "client certificate names none of client_allowed_sans".into(),
            ))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::parse(text, Path::new("/nonexistent/web.yml"))
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        let c = parse("# nothing here\n").unwrap();
        assert!(c.tls.is_none() && c.basic_auth.is_none() && c.headers.is_empty());
    }

    #[test]
    fn unknown_field_is_an_error_with_a_line_number() {
        let err = parse("basic_auth_users: {}\ntls_server_config:\n  cert_fiel: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cert_fiel"), "{err}");
        assert!(err.contains('3'), "should name line 3: {err}");
    }

    #[test]
    fn bad_bcrypt_hash_is_rejected() {
        let err = parse("basic_auth_users:\n  alice: notahash\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("alice"), "{err}");
    }

    #[test]
    fn headers_are_checked() {
        let ok = parse("http_server_config:\n  headers:\n    X-Frame-Options: deny\n").unwrap();
        assert_eq!(ok.headers.len(), 1);
        let err = parse("http_server_config:\n  headers:\n    Server: pharos\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not allowed"), "{err}");
    }

    #[test]
    fn tls_needs_both_halves_and_readable_files() {
        let err = parse("tls_server_config:\n  cert_file: a.crt\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing key_file"), "{err}");
        let err = parse("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/a.crt"),
            "relative to the config dir: {err}"
        );
    }

    #[test]
    fn bad_client_auth_and_versions() {
        let cfg = TlsServerConfig {
            client_auth_type: Some("Sometimes".into()),
            ..Default::default()
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let err = client_verifier(&cfg, Path::new("."), &provider).unwrap_err();
        assert!(err.contains("Invalid ClientAuth"), "{err}");
        let cfg = TlsServerConfig {
            min_version: Some("TLS13".into()),
            max_version: Some("TLS12".into()),
            ..Default::default()
        };
        assert!(protocol_versions(&cfg).is_err());
        let cfg = TlsServerConfig {
            min_version: Some("TLS10".into()),
            ..Default::default()
        };
        assert_eq!(protocol_versions(&cfg).unwrap().len(), 2);
        let cfg = TlsServerConfig {
            cipher_suites: Some(vec!["TLS_RSA_WITH_RC4_128_SHA".into()]),
            ..Default::default()
        };
        assert!(crypto_provider(&cfg).is_err());
        let cfg = TlsServerConfig {
            cipher_suites: Some(vec![
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305".into(),
            ]),
            curve_preferences: Some(vec!["X25519".into()]),
            ..Default::default()
        };
        let p = crypto_provider(&cfg).unwrap();
        assert_eq!(p.kx_groups.len(), 1);
        assert_eq!(
            p.cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS12)
                .count(),
            2
        );
    }
}

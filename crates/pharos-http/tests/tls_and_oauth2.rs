//! Clients built from configuration talking to local servers: TLS verification choices
//! against a rustls server with a generated certificate, and the OAuth 2.0 client-credentials
//! flow against a local token endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use pharos_http::{ClientOptions, HttpClient, HttpClientConfig, OAuth2, Secret, TlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server on 127.0.0.1 whose certificate names only `pharos.test`; answers `ok` to any
/// request. Returns the port and the certificate PEM.
async fn tls_server() -> (u16, String, tokio::task::JoinHandle<()>) {
    let certified = match rcgen::generate_simple_self_signed(vec!["pharos.test".to_string()]) {
        Ok(c) => c,
        Err(e) => panic!("certificate generation: {e}"),
    };
    let cert_pem = certified.cert.pem();
    let cert_der: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![cert_der], key)
        });
    let config = match config {
        Ok(c) => c,
        Err(e) => panic!("server TLS config: {e}"),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let handle = tokio::spawn(async move {
        // Bounded: the tests make a handful of connections.
        for _ in 0..32 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 65536 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, cert_pem, handle)
}

async fn get_text(cfg: &HttpClientConfig, url: &str) -> Result<String, String> {
    let client = HttpClient::new(cfg, &ClientOptions::default()).map_err(|e| e.to_string())?;
    let rb = client
        .request(pharos_http::reqwest::Method::GET, url)
        .await
        .map_err(|e| e.to_string())?;
    let resp = rb
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| {
            let mut s = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                s.push_str(": ");
                s.push_str(&c.to_string());
                cur = c.source();
            }
            s
        })?;
    resp.text().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn tls_verification_choices() {
    let (port, ca_pem, server) = tls_server().await;
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let ca_file = dir.path().join("ca.pem");
    if let Err(e) = std::fs::write(&ca_file, &ca_pem) {
        panic!("{e}");
    }
    let url = format!("https://127.0.0.1:{port}/");

    // The certificate does not name 127.0.0.1, so trusting the CA is not enough...
    let trusted = HttpClientConfig {
        tls_config: TlsConfig {
            ca_file: Some(ca_file.clone()),
            ..TlsConfig::default()
        },
        ..HttpClientConfig::default()
    };
    let err = get_text(&trusted, &url).await.err().unwrap_or_default();
    assert!(err.contains("certificate not valid for name"), "{err}");

    // ...until server_name says which name to check.
    let named = HttpClientConfig {
        tls_config: TlsConfig {
            ca_file: Some(ca_file),
            server_name: "pharos.test".into(),
            ..TlsConfig::default()
        },
        ..HttpClientConfig::default()
    };
    assert_eq!(get_text(&named, &url).await, Ok("ok".to_string()));

    // The system roots do not know this CA.
    let err = get_text(&HttpClientConfig::default(), &url)
        .await
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );

    // insecure_skip_verify accepts it anyway.
    let insecure = HttpClientConfig {
        tls_config: TlsConfig {
            insecure_skip_verify: true,
            ..TlsConfig::default()
        },
        ..HttpClientConfig::default()
    };
    assert_eq!(get_text(&insecure, &url).await, Ok("ok".to_string()));
    server.abort();
}

#[tokio::test]
async fn oauth2_client_credentials() {
    let token_requests = Arc::new(AtomicUsize::new(0));
    let counter = token_requests.clone();
    let app = axum::Router::new()
        .route(
            "/token",
            post(move |headers: HeaderMap, body: String| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // base64("id:s3cret")
                    if auth != "Basic aWQ6czNjcmV0"
                        || !body.contains("grant_type=client_credentials")
                        || !body.contains("scope=read+write")
                        || !body.contains("audience=metrics")
                    {
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            String::from("bad client"),
                        );
                    }
                    (
                        axum::http::StatusCode::OK,
                        String::from(
                            r#"{"access_token":"tok123","token_type":"bearer","expires_in":3600}"#,
                        ),
                    )
                }
            }),
        )
        .route(
            "/resource",
            get(|headers: HeaderMap| async move {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string()
            }),
        );
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut cfg = HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_id: "id".into(),
            client_secret: Secret::new("s3cret"),
            scopes: vec!["read".into(), "write".into()],
            token_url: format!("http://{addr}/token"),
            endpoint_params: [("audience".to_string(), "metrics".to_string())]
                .into_iter()
                .collect(),
            ..OAuth2::default()
        }),
        ..HttpClientConfig::default()
    };
    assert!(cfg.validate().is_ok());
    let url = format!("http://{addr}/resource");
    let client = match HttpClient::new(&cfg, &ClientOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    for _ in 0..3 {
        let rb = client
            .request(pharos_http::reqwest::Method::GET, &url)
            .await;
        let text = match rb {
            Ok(rb) => rb.send().await.ok(),
            Err(e) => panic!("{e}"),
        };
        let text = match text {
            Some(r) => r.text().await.unwrap_or_default(),
            None => String::new(),
        };
        assert_eq!(text, "Bearer tok123");
    }
    // The token is cached until it nears expiry.
    assert_eq!(token_requests.load(Ordering::SeqCst), 1);

    // A wrong secret is reported with the endpoint and status.
    if let Some(o) = cfg.oauth2.as_mut() {
        o.client_secret = Secret::new("wrong");
    }
    let client = match HttpClient::new(&cfg, &ClientOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let err = client
        .request(pharos_http::reqwest::Method::GET, &url)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains(&format!(
            "oauth2 token request to http://{addr}/token failed: HTTP 401 Unauthorized"
        )),
        "{err}"
    );
    server.abort();
}

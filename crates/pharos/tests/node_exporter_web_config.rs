//! `--web.config.file`: TLS with a generated self-signed certificate, client certificates, basic
//! auth against bcrypt hashes, and security headers, against the real binary.

mod node_exporter_harness;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use node_exporter_harness::{exchange, get, start_pharos, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct Pem {
    cert: String,
    key: String,
}

fn self_signed(name: &str) -> Pem {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()])
        .expect("generating a certificate");
    Pem {
        cert: ck.cert.pem(),
        key: ck.signing_key.serialize_pem(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_get(
    addr: SocketAddr,
    server_cert: &str,
    client: Option<&Pem>,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(server_cert.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(p) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(p.cert.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(p.key.as_bytes()).expect("key"),
            )
            .expect("client auth"),
    };
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("localhost").expect("name"),
    )
    .map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    exchange(&mut stream, addr, "/metrics", headers)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing test file");
    p.display().to_string()
}

#[test]
fn tls_with_basic_auth_and_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = self_signed("localhost");
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    // Low cost keeps the test quick; the exporter accepts any cost.
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let config = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let ne = start_pharos(&["--web.config.file", &config]);

    // Plain HTTP to a TLS port gets no metrics.
    let plain = get(ne.addr, "/metrics", &[]);
    assert!(plain.map(|r| r.status != 200).unwrap_or(true));

    let anonymous = tls_get(ne.addr, &server.cert, None, &[]).expect("TLS request");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Basic"));
    assert_eq!(anonymous.header("x-frame-options"), Some("deny"));

    // prometheus:wrong
    let wrong = tls_get(
        ne.addr,
        &server.cert,
        None,
        &[("Authorization", "Basic cHJvbWV0aGV1czp3cm9uZw==")],
    )
    .expect("TLS");
    assert_eq!(wrong.status, 401);

    // prometheus:s3cret
    let good = tls_get(
        ne.addr,
        &server.cert,
        None,
        &[("Authorization", "Basic cHJvbWV0aGV1czpzM2NyZXQ=")],
    )
    .expect("TLS");
    assert_eq!(good.status, 200);
    assert!(good.text().contains("node_scrape_collector_success"));
    assert_eq!(good.header("x-frame-options"), Some("deny"));
}

#[test]
fn client_certificates_are_required_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = self_signed("localhost");
    let client = self_signed("scraper.example");
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    write(dir.path(), "client-ca.crt", &client.cert);
    let config = write(
        dir.path(),
        "web.yml",
        concat!(
            "tls_server_config:\n",
            "  cert_file: server.crt\n",
            "  key_file: server.key\n",
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "  client_ca_file: client-ca.crt\n",
        ),
    );
    let ne = start_pharos(&["--web.config.file", &config]);

    assert!(
        tls_get(ne.addr, &server.cert, None, &[]).is_err(),
        "a client without a certificate must be refused"
    );
    let stranger = self_signed("stranger.example");
    assert!(
        tls_get(ne.addr, &server.cert, Some(&stranger), &[]).is_err(),
        "an unknown client must be refused"
    );
    let ok = tls_get(ne.addr, &server.cert, Some(&client), &[]).expect("trusted client");
    assert_eq!(ok.status, 200);
}

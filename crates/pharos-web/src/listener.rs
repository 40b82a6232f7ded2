//! Listening sockets and the connection loop, plain or TLS, with graceful shutdown.
//!
//! Binding is separate from serving so a caller running several components (`pharos up`) can
//! claim every port first and fail before anything starts when one is taken.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How long a client gets to finish the TLS handshake; a stalled handshake must not pin a task.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is malformed or does not resolve.
    #[error("invalid listen address {address:?}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// The port is taken by another program.
    #[error(
        "listen tcp {address}: bind: address already in use — is another exporter (node_exporter or \
         pharos) already running on this port? Stop it, or choose another port with --web.listen-address"
    )]
    AddressInUse {
        /// The address as given.
        address: String,
    },
    /// Binding failed for another reason (permission, address not on this host...).
    #[error("listen tcp {address}: {source}{hint}")]
    Bind {
        /// The address as given.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
        /// Advice for common cases.
        hint: &'static str,
    },
}

/// A listening socket together with the address the user asked for.
#[derive(Debug)]
pub struct BoundListener {
    /// The address as given on the command line (used in messages).
    pub requested: String,
    listener: TcpListener,
}

impl BoundListener {
    /// Wraps a socket the caller bound itself (for components with their own address syntax
    /// and bind errors); `requested` names it in log lines.
    pub fn from_listener(requested: impl Into<String>, listener: TcpListener) -> Self {
        BoundListener {
            requested: requested.into(),
            listener,
        }
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Binds one listen address in Go's `net.Listen` syntax: `:9100` (every interface, IPv4 and
/// IPv6), `host:9100`, `127.0.0.1:9100`, `[::1]:9100`.
pub async fn bind(address: &str) -> Result<BoundListener, ServeError> {
    let bad = |reason: &str| ServeError::Address {
        address: address.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port or :port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let candidates: Vec<SocketAddr> = if host.is_empty() {
        // `[::]` also accepts IPv4 on Linux; fall back to IPv4 on hosts without IPv6.
        vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]
    } else {
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| bad(&format!("cannot resolve {host:?}: {e}")))?
            .collect()
    };
    let mut last_error = None;
    for candidate in candidates {
        match TcpListener::bind(candidate).await {
            Ok(listener) => {
                return Ok(BoundListener {
                    requested: address.to_string(),
                    listener,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(ServeError::AddressInUse {
                    address: address.to_string(),
                })
            }
            Err(e) => last_error = Some(e),
        }
    }
    let source =
        last_error.unwrap_or_else(|| std::io::Error::other("the host name resolved to no address"));
    let hint = match source.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        }
        std::io::ErrorKind::AddrNotAvailable => " (that IP address does not belong to this host)",
        _ => "",
    };
    Err(ServeError::Bind {
        address: address.to_string(),
        source,
        hint,
    })
}

/// A router with its bound listeners and TLS settings: everything needed to serve, with every
/// start-up error already behind.
pub struct Server {
    listeners: Vec<BoundListener>,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// Puts the parts together.
    pub fn new(
        listeners: Vec<BoundListener>,
        router: Router,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        Server {
            listeners,
            router,
            tls,
        }
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` resolves; see [`serve`].
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        serve(self.listeners, self.router, self.tls, shutdown).await;
    }
}

/// Serves `router` on every listener until `shutdown` resolves, then lets in-flight requests
/// finish (up to a few seconds) and returns.
pub async fn serve(
    listeners: Vec<BoundListener>,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let acceptor = tls.map(TlsAcceptor::from);
    let mut loops = Vec::with_capacity(listeners.len());
    for bound in listeners {
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        match bound.local_addr() {
            Ok(addr) => {
                tracing::info!(address = %addr, requested = %bound.requested, scheme, "listening")
            }
            Err(_) => tracing::info!(requested = %bound.requested, scheme, "listening"),
        }
        loops.push(tokio::spawn(accept_loop(
            bound.listener,
            router.clone(),
            acceptor.clone(),
            stop_rx.clone(),
        )));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, service, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(tls, service, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("some connections were still open at shutdown");
    }
}

async fn serve_connection<S>(
    stream: S,
    service: TowerToHyperService<Router>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

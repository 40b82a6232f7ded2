//! The HTTP face of the exporter: the metrics endpoint, the landing page, and the web-config
//! layer (security headers, basic auth) in front of both.

use std::io::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pharos_model::{ExpositionFormat, MetricFamily, MetricType};
use tokio::sync::Semaphore;

use crate::exporter::Exporter;
use pharos_web::WebConfig;

/// Settings of the HTTP layer, from the `--web.*` flags.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// `--web.max-requests`; 0 means unlimited.
    pub max_requests: usize,
    /// Whether OpenMetrics may be negotiated. node_exporter 1.5 never serves it, so the node
    /// exporter leaves this off to stay a drop-in replacement.
    pub openmetrics: bool,
    /// Whether to hand the heap memory a scrape used back to the operating system once the
    /// response is built. A standalone exporter idles between scrapes, so keeping a scrape's
    /// worth of freed memory resident buys nothing; a process with a large heap of its own
    /// should leave this off, since releasing walks the whole heap.
    pub release_memory: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            telemetry_path: "/metrics".into(),
            max_requests: 40,
            openmetrics: false,
            release_memory: false,
        }
    }
}

/// Counters of the metrics handler itself, exposed as `promhttp_metric_handler_*` like the Go
/// handler does.
#[derive(Default)]
struct HandlerStats {
    in_flight: AtomicI64,
    ok: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
}

impl HandlerStats {
    fn families(&self) -> Vec<MetricFamily> {
        let mut errors = MetricFamily::new(
            "promhttp_metric_handler_errors_total",
            "Total number of internal errors encountered by the promhttp metric handler.",
            MetricType::Counter,
        );
        errors.push([("cause", "encoding")], 0.0);
        errors.push([("cause", "gathering")], 0.0);
        let in_flight = MetricFamily::single(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
            MetricType::Gauge,
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        let mut requests = MetricFamily::new(
            "promhttp_metric_handler_requests_total",
            "Total number of scrapes by HTTP status code.",
            MetricType::Counter,
        );
        requests.push([("code", "200")], self.ok.load(Ordering::Relaxed) as f64);
        requests.push(
            [("code", "500")],
            self.failed.load(Ordering::Relaxed) as f64,
        );
        requests.push(
            [("code", "503")],
            self.throttled.load(Ordering::Relaxed) as f64,
        );
        vec![errors, in_flight, requests]
    }
}

/// Decrements the in-flight gauge however the handler exits.
struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct AppState {
    exporter: Arc<Exporter>,
    limiter: Option<Arc<Semaphore>>,
    max_requests: usize,
    stats: Arc<HandlerStats>,
    telemetry_path: Arc<str>,
    openmetrics: bool,
    release_memory: bool,
}

/// The complete router: metrics and landing page behind the web-config layer.
pub fn router(exporter: Arc<Exporter>, options: &HttpOptions, web: &WebConfig) -> Router {
    let telemetry_path = if options.telemetry_path.starts_with('/') {
        options.telemetry_path.clone()
    } else {
        format!("/{}", options.telemetry_path)
    };
    let state = AppState {
        exporter,
        limiter: (options.max_requests > 0).then(|| Arc::new(Semaphore::new(options.max_requests))),
        max_requests: options.max_requests,
        stats: Arc::new(HandlerStats::default()),
        telemetry_path: telemetry_path.as_str().into(),
        openmetrics: options.openmetrics,
        release_memory: options.release_memory,
    };
    let mut app = Router::new().route(&telemetry_path, get(metrics));
    if telemetry_path != "/" {
        app = app.route("/", get(landing_page));
    }
    pharos_web::web_layer::apply(app.with_state(state), web)
}

async fn landing_page(State(state): State<AppState>) -> Html<String> {
    let path = html_escape(&state.telemetry_path);
    Html(format!(
        "<!DOCTYPE html>\n<html>\n<head><title>Node Exporter</title></head>\n<body>\n\
         <h1>Node Exporter</h1>\n<p>Pharos {version}: host metrics in the node_exporter format.</p>\n\
         <p><a href=\"{path}\">Metrics</a></p>\n</body>\n</html>\n",
        version = crate::build_info::VERSION,
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn metrics(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    // node_exporter's `collect[]` parameter restricts a scrape to some collectors.
    let only = collect_params(uri.query().unwrap_or(""));
    if let Some(unknown) = only
        .as_deref()
        .and_then(|names| state.exporter.unknown_collector(names))
    {
        let body =
            format!("Couldn't create filtered metrics handler: missing collector: {unknown}\n");
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    let _permit = match &state.limiter {
        Some(limiter) => match Arc::clone(limiter).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                state.stats.throttled.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    "Limit of concurrent requests reached ({}), try again later.\n",
                    state.max_requests
                );
                return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
            }
        },
        None => None,
    };
    state.stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight(&state.stats.in_flight);

    let extra = if state.exporter.exporter_metrics() {
        state.stats.families()
    } else {
        Vec::new()
    };
    let families = state.exporter.gather_only(only.as_deref(), extra).await;

    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = choose_format(accept, state.openmetrics);
    let body = encode(&families, format);
    // Each stage's input is dropped as soon as the next stage has its output, so a scrape's
    // heap peak holds at most two of families, text and compressed text at once.
    drop(families);

    let gzip = accepts_gzip(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let mut response = if gzip {
        match gzip_bytes(&body) {
            Ok(compressed) => {
                drop(body);
                let mut r = Response::new(Body::from(compressed));
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            Err(e) => {
                tracing::warn!(error = %e, "compressing the scrape failed; sending it uncompressed");
                Response::new(Body::from(body))
            }
        }
    } else {
        Response::new(Body::from(body))
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if state.release_memory {
        heap::release_free_memory();
    }
    state.stats.ok.fetch_add(1, Ordering::Relaxed);
    response
}

/// The scrape in the negotiated format.
fn encode(families: &[MetricFamily], format: ExpositionFormat) -> Vec<u8> {
    // Sized from the families so the buffer is allocated once instead of doubling its way up.
    let estimate = 1024 + families.iter().map(estimated_text_size).sum::<usize>();
    match format {
        ExpositionFormat::ProtobufDelimited => {
            let mut out = Vec::with_capacity(estimate);
            pharos_model::protobuf::encode_families(families, &mut out);
            out
        }
        f => {
            let mut out = String::with_capacity(estimate);
            if f.is_openmetrics() {
                pharos_model::write::write_openmetrics(families, &mut out);
            } else {
                pharos_model::write::write_text(families, &mut out);
            }
            out.into_bytes()
        }
    }
}

/// A rough upper estimate of one family's text size: HELP and TYPE lines, then per sample its
/// name, labels and a value.
fn estimated_text_size(family: &MetricFamily) -> usize {
    let per_sample = family.name.len() + 32;
    2 * family.name.len()
        + family.help.len()
        + 32
        + family
            .metrics
            .iter()
            .map(|m| {
                per_sample
                    + m.labels
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 4)
                        .sum::<usize>()
            })
            .sum::<usize>()
}

/// Giving freed heap memory back to the operating system.
mod heap {
    /// Returns the free parts of the malloc heap to the kernel. glibc only gives back memory at
    /// the top of its heap on its own; after a scrape most of the heap is free but interleaved
    /// with long-lived allocations, so without this it would stay resident until the next one.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub fn release_free_memory() {
        // SAFETY: malloc_trim only returns unused pages to the kernel; it has no preconditions
        // and is thread-safe.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Other allocators return memory on their own terms.
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn release_free_memory() {}
}

/// The format to write for an `Accept` header, following Go's `expfmt.Negotiate` (or
/// `NegotiateIncludingOpenMetrics` when OpenMetrics is enabled).
fn choose_format(accept: &str, openmetrics: bool) -> ExpositionFormat {
    if openmetrics {
        pharos_model::negotiate(accept)
    } else {
        pharos_model::negotiate_without_openmetrics(accept)
    }
}

/// The values of every `collect[]` parameter, or `None` when there is none.
fn collect_params(query: &str) -> Option<Vec<String>> {
    let names: Vec<String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| percent_decode(k) == "collect[]")
        .map(|(_, v)| percent_decode(v))
        .filter(|v| !v.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Decodes `%XX` escapes and `+`; invalid escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether an `Accept-Encoding` header allows gzip (and does not refuse it with `q=0`).
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        coding.eq_ignore_ascii_case("gzip") && !refused
    })
}

fn gzip_bytes(data: &[u8]) -> std::io::Result<Vec<u8>> {
    // Fast compression: scrapes repeat every few seconds, so CPU matters more than the last
    // few percent of size on a loopback or LAN link.
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_parameters() {
        assert_eq!(collect_params(""), None);
        assert_eq!(
            collect_params("collect%5B%5D=cpu&collect[]=meminfo&x=1"),
            Some(vec!["cpu".into(), "meminfo".into()])
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
    }

    #[test]
    fn formats_follow_node_exporter() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                    text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(choose_format(prom, false), ExpositionFormat::PrometheusText);
        assert_eq!(
            choose_format(prom, true),
            ExpositionFormat::OpenMetrics1_0_0
        );
        assert_eq!(choose_format("", false), ExpositionFormat::PrometheusText);
        let proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        assert_eq!(
            choose_format(proto, false),
            ExpositionFormat::ProtobufDelimited
        );
    }
}

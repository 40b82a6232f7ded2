//! Content negotiation for `/metrics`: which exposition format to serve for a request's
//! `Accept` header, and which parser to use for a scrape response's `Content-Type`.
//!
//! The choice follows the Go client library (`expfmt.Negotiate` and
//! `expfmt.NegotiateIncludingOpenMetrics`) so that a Prometheus server scraping Pharos gets
//! exactly the format it would get from a Go exporter: media ranges are ordered by `q`
//! (most specific first on ties), and the first one naming a format we can produce wins;
//! anything else falls back to the text format 0.0.4.

/// The media type of both OpenMetrics versions.
const OPENMETRICS_TYPE: &str = "application/openmetrics-text";
/// The media type of the protobuf exposition.
const PROTOBUF_TYPE: &str = "application/vnd.google.protobuf";
/// The `proto` parameter value naming the message in the protobuf exposition.
const PROTOBUF_MESSAGE: &str = "io.prometheus.client.MetricFamily";

/// An exposition format Pharos can serve and parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpositionFormat {
    /// The Prometheus text format, version 0.0.4.
    PrometheusText,
    /// OpenMetrics text, version 0.0.1 (the pre-standard name clients still ask for; same syntax).
    OpenMetrics0_0_1,
    /// OpenMetrics text, version 1.0.0.
    OpenMetrics1_0_0,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages.
    ProtobufDelimited,
}

impl ExpositionFormat {
    /// The `Content-Type` header value to send with a body in this format, spelled as the Go
    /// client library spells it.
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            ExpositionFormat::OpenMetrics0_0_1 => "application/openmetrics-text; version=0.0.1; charset=utf-8",
            ExpositionFormat::OpenMetrics1_0_0 => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ExpositionFormat::ProtobufDelimited => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// True for both OpenMetrics versions, which share one syntax.
    pub fn is_openmetrics(self) -> bool {
        matches!(
            self,
            ExpositionFormat::OpenMetrics0_0_1 | ExpositionFormat::OpenMetrics1_0_0
        )
    }

    /// The format of a scrape response from its `Content-Type`, or `None` when the type is
    /// missing or unknown (Prometheus then falls back to the text format, and so should callers).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let range = MediaRange::parse(content_type)?;
        let mime = range.mime();
        if mime.eq_ignore_ascii_case(PROTOBUF_TYPE) {
            let is_family = range.param("proto") == Some(PROTOBUF_MESSAGE);
            let delimited = range.param("encoding").is_none_or(|e| e == "delimited");
            return (is_family && delimited).then_some(ExpositionFormat::ProtobufDelimited);
        }
        if mime.eq_ignore_ascii_case(OPENMETRICS_TYPE) {
            return match range.param("version") {
                Some("0.0.1") => Some(ExpositionFormat::OpenMetrics0_0_1),
                _ => Some(ExpositionFormat::OpenMetrics1_0_0),
            };
        }
        if mime.eq_ignore_ascii_case("text/plain") {
            return Some(ExpositionFormat::PrometheusText);
        }
        None
    }
}

/// Picks the format to serve for an `Accept` header, considering the text format, OpenMetrics
/// and delimited protobuf, like Go's `expfmt.NegotiateIncludingOpenMetrics`.
pub fn negotiate(accept: &str) -> ExpositionFormat {
    pick(accept, true)
}

/// Like [`negotiate`], but never picks OpenMetrics, like Go's `expfmt.Negotiate`; for
/// handlers that have OpenMetrics disabled (the node exporter's default).
pub fn negotiate_without_openmetrics(accept: &str) -> ExpositionFormat {
    pick(accept, false)
}

fn pick(accept: &str, allow_openmetrics: bool) -> ExpositionFormat {
    let mut ranges: Vec<MediaRange<'_>> = accept.split(',').filter_map(MediaRange::parse).collect();
    // A stable sort keeps header order among equally preferred ranges, which is what a client
    // listing several formats at the same q expects.
    ranges.sort_by(|a, b| {
        b.preference_key()
            .partial_cmp(&a.preference_key())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for range in &ranges {
        // q=0 means "not acceptable"; the Go library ignores this, but serving a format the
        // client explicitly refused helps nobody.
        if range.q <= 0.0 {
            continue;
        }
        let mime = range.mime();
        let version = range.param("version");
        if mime.eq_ignore_ascii_case(PROTOBUF_TYPE)
            && range.param("proto") == Some(PROTOBUF_MESSAGE)
            && range.param("encoding") == Some("delimited")
        {
            return ExpositionFormat::ProtobufDelimited;
        }
        if mime.eq_ignore_ascii_case("text/plain") && matches!(version, None | Some("0.0.4")) {
            return ExpositionFormat::PrometheusText;
        }
        if allow_openmetrics && mime.eq_ignore_ascii_case(OPENMETRICS_TYPE) {
            match version {
                Some("1.0.0") => return ExpositionFormat::OpenMetrics1_0_0,
                None | Some("0.0.1") => return ExpositionFormat::OpenMetrics0_0_1,
                Some(_) => {}
            }
        }
    }
    ExpositionFormat::PrometheusText
}

/// One media range of an `Accept` or `Content-Type` header: `type/subtype; k=v; q=0.5`.
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    params: Vec<(&'a str, &'a str)>,
    q: f64,
}

impl<'a> MediaRange<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.split(';');
        let mime = parts.next()?.trim();
        let (kind, subtype) = mime.split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        let mut q = 1.0;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let k = k.trim();
            let v = v.trim().trim_matches('"');
            if k.eq_ignore_ascii_case("q") {
                q = v
                    .parse::<f64>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .unwrap_or(0.0)
                    .clamp(0.0, 1.0);
            } else {
                params.push((k, v));
            }
        }
        Some(MediaRange {
            kind,
            subtype,
            params,
            q,
        })
    }

    fn mime(&self) -> String {
        format!("{}/{}", self.kind, self.subtype)
    }

    fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// Higher sorts first: q, then concrete type over `*`, then concrete subtype over `*`.
    /// Parameters do not count, as in Go's `goautoneg`, so `text/plain` listed before an
    /// equally weighted `application/openmetrics-text;version=1.0.0` still wins.
    fn preference_key(&self) -> (f64, u8, u8) {
        (
            self.q,
            u8::from(self.kind != "*"),
            u8::from(self.subtype != "*"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Prometheus 2.x sends when scraping with default settings.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn prometheus_scrape_gets_openmetrics_1() {
        assert_eq!(
            negotiate(PROMETHEUS_ACCEPT),
            ExpositionFormat::OpenMetrics1_0_0
        );
        assert_eq!(
            negotiate_without_openmetrics(PROMETHEUS_ACCEPT),
            ExpositionFormat::PrometheusText
        );
    }

    #[test]
    fn prometheus_3_scrape_header() {
        let accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate(accept), ExpositionFormat::OpenMetrics1_0_0);
        // The UTF-8 text format 1.0.0 is not one we write, so its lower-ranked 0.0.4 wins.
        assert_eq!(
            negotiate_without_openmetrics(accept),
            ExpositionFormat::PrometheusText
        );
    }

    #[test]
    fn protobuf_first_when_preferred() {
        let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate(accept), ExpositionFormat::ProtobufDelimited);
        assert_eq!(
            negotiate_without_openmetrics(accept),
            ExpositionFormat::ProtobufDelimited
        );
    }

    #[test]
    fn q_orders_ranges_not_header_position() {
        let accept =
            "text/plain;version=0.0.4;q=0.2,application/openmetrics-text;version=1.0.0;q=0.9";
        assert_eq!(negotiate(accept), ExpositionFormat::OpenMetrics1_0_0);
    }

    #[test]
    fn fallbacks() {
        assert_eq!(negotiate(""), ExpositionFormat::PrometheusText);
        assert_eq!(negotiate("*/*"), ExpositionFormat::PrometheusText);
        assert_eq!(
            negotiate("application/json"),
            ExpositionFormat::PrometheusText
        );
        assert_eq!(
            negotiate("garbage;;;,,=="),
            ExpositionFormat::PrometheusText
        );
        // Unknown text version, unsupported protobuf encoding: skipped.
        assert_eq!(
            negotiate("text/plain;version=9.9"),
            ExpositionFormat::PrometheusText
        );
        assert_eq!(
            negotiate("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text,application/openmetrics-text"),
            ExpositionFormat::OpenMetrics0_0_1
        );
        assert_eq!(
            negotiate("application/openmetrics-text;version=2.0.0,text/plain"),
            ExpositionFormat::PrometheusText
        );
    }

    #[test]
    fn equal_q_keeps_header_order() {
        assert_eq!(
            negotiate("text/plain, application/openmetrics-text;version=1.0.0"),
            ExpositionFormat::PrometheusText
        );
        assert_eq!(
            negotiate("*/*;q=0.9, application/openmetrics-text;q=0.9"),
            ExpositionFormat::OpenMetrics0_0_1
        );
    }

    #[test]
    fn refused_formats_are_not_served() {
        assert_eq!(
            negotiate("application/openmetrics-text;version=1.0.0;q=0,text/plain;q=0.1"),
            ExpositionFormat::PrometheusText
        );
    }

    #[test]
    fn content_types_round_trip() {
        for f in [
            ExpositionFormat::PrometheusText,
            ExpositionFormat::OpenMetrics0_0_1,
            ExpositionFormat::OpenMetrics1_0_0,
            ExpositionFormat::ProtobufDelimited,
        ] {
            assert_eq!(
                ExpositionFormat::from_content_type(f.content_type()),
                Some(f)
            );
            assert_eq!(negotiate(f.content_type()), f);
        }
        assert_eq!(
            ExpositionFormat::from_content_type("text/plain"),
            Some(ExpositionFormat::PrometheusText)
        );
        assert_eq!(
            ExpositionFormat::from_content_type("application/json"),
            None
        );
        assert_eq!(ExpositionFormat::from_content_type(""), None);
    }
}

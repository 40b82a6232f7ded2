//! Feeds arbitrary bytes to both text parsers, the family builder and content negotiation.
//! Any panic, hang or runaway allocation is a bug: scrape bodies are untrusted input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_model::parse::{Entry, TextFlavor, TextParser};
use pharos_model::{negotiate, parse_families, ExpositionFormat};

fuzz_target!(|data: &[u8]| {
    for flavor in [TextFlavor::Prometheus, TextFlavor::OpenMetrics] {
        let mut parser = TextParser::new(data, flavor);
        let mut entries = 0usize;
        while let Some(entry) = parser.next_entry() {
            entries += 1;
            // One entry per line at most, so the count bounds the work.
            assert!(entries <= data.len() + 1, "more entries than bytes");
            if let Ok(Entry::Series(s)) = entry {
                std::hint::black_box((s.name.len(), s.labels.len(), s.value));
            }
        }
    }
    for ct in ["text/plain; version=0.0.4", "application/openmetrics-text; version=1.0.0"] {
        if let Ok(families) = parse_families(data, ct) {
            // What we parsed must be writable in both formats without panicking.
            let mut out = String::new();
            pharos_model::write::write_text(&families, &mut out);
            pharos_model::write::write_openmetrics(&families, &mut out);
        }
    }
    if let Ok(header) = std::str::from_utf8(data) {
        let format = negotiate(header);
        std::hint::black_box(ExpositionFormat::from_content_type(header));
        std::hint::black_box(format.content_type());
    }
});

//! Turning one scrape's body into samples: parsing with pharos-model's parsers, attaching
//! target labels (`honor_labels`), metric relabeling, timestamps (`honor_timestamps`), and the
//! sample and label limits, with the scrape cache doing the per-series work once.

use std::sync::Arc;

use pharos_model::parse::{Entry, TextFlavor, TextParser};
use pharos_model::protobuf::{family_from_message, FamilyDecoder};
use pharos_model::{
    ExpositionFormat, Labels, LabelsBuilder, MetricType, MetricValue, ParseError, METRIC_NAME,
};

use crate::relabel::{self, RelabelConfig};
use crate::scrape_cache::{LabelStrings, ScrapeCache};
use crate::scrape_error::ScrapeError;
use crate::sink::{SinkSample, SinkValue};

/// The settings that shape how series are ingested, taken from the scrape config and target.
pub struct IngestSettings<'a> {
    /// The target's labels that are attached to every series.
    pub target_labels: &'a Labels,
    /// Keep the exposed value when an exposed label clashes with a target label.
    pub honor_labels: bool,
    /// Use exposed timestamps.
    pub honor_timestamps: bool,
    /// Rules applied to every series.
    pub metric_relabel_configs: &'a [RelabelConfig],
    /// Most samples per scrape; 0 is unlimited.
    pub sample_limit: u64,
    /// Most labels per series; 0 is unlimited.
    pub label_limit: u64,
    /// Longest label name; 0 is unlimited.
    pub label_name_length_limit: u64,
    /// Longest label value; 0 is unlimited.
    pub label_value_length_limit: u64,
    /// Keep classic histogram series when a native histogram is present.
    pub always_scrape_classic_histograms: bool,
}

/// Counts reported as `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling` and
/// `scrape_series_added`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// Samples in the body.
    pub scraped: u64,
    /// Samples left after metric relabeling.
    pub post_relabel: u64,
    /// Series not seen in recent scrapes.
    pub series_added: u64,
}

/// Ingests one body. Samples are appended to `out`; on error the caller discards them.
pub fn ingest(
    body: &[u8],
    format: ExpositionFormat,
    scrape_time_ms: i64,
    settings: &IngestSettings<'_>,
    cache: &mut ScrapeCache,
    out: &mut Vec<SinkSample>,
) -> Result<IngestCounts, ScrapeError> {
    let mut state = State {
        settings,
        scrape_time_ms,
        counts: IngestCounts::default(),
        over_limit: false,
    };
    match format {
        ExpositionFormat::ProtobufDelimited => ingest_protobuf(body, &mut state, cache, out)?,
        ExpositionFormat::PrometheusText => {
            ingest_text(body, TextFlavor::Prometheus, &mut state, cache, out)?
        }
        ExpositionFormat::OpenMetrics0_0_1 | ExpositionFormat::OpenMetrics1_0_0 => {
            ingest_text(body, TextFlavor::OpenMetrics, &mut state, cache, out)?
        }
    }
    if state.over_limit {
        return Err(ScrapeError::SampleLimit {
            got: state.counts.post_relabel,
            limit: settings.sample_limit,
        });
    }
    Ok(state.counts)
}

struct State<'s, 'a> {
    settings: &'s IngestSettings<'a>,
    scrape_time_ms: i64,
    counts: IngestCounts,
    over_limit: bool,
}

fn parse_error(e: ParseError) -> ScrapeError {
    match e {
        ParseError::Text {
            line,
            column,
            message,
        } => ScrapeError::Parse {
            position: format!("line {line}, column {column}"),
            message,
        },
        ParseError::Protobuf { offset, message } => ScrapeError::Parse {
            position: format!("protobuf byte {offset}"),
            message,
        },
    }
}

/// True for the `_created` series of OpenMetrics counters, summaries and histograms, which
/// carry creation times rather than samples; Prometheus does not store them as series.
fn is_created_series(name: &str, family: &str, family_type: Option<MetricType>) -> bool {
    matches!(
        family_type,
        Some(
            MetricType::Counter
                | MetricType::Summary
                | MetricType::Histogram
                | MetricType::GaugeHistogram
        )
    ) && name.strip_suffix("_created") == Some(family)
}

fn ingest_text(
    body: &[u8],
    flavor: TextFlavor,
    state: &mut State<'_, '_>,
    cache: &mut ScrapeCache,
    out: &mut Vec<SinkSample>,
) -> Result<(), ScrapeError> {
    let mut parser = TextParser::new(body, flavor);
    let mut family = String::new();
    let mut family_type: Option<MetricType> = None;
    while let Some(entry) = parser.next_entry() {
        match entry.map_err(parse_error)? {
            Entry::Type { name, metric_type } => {
                family.clear();
                family.push_str(&name);
                family_type = Some(metric_type);
                cache.note_metadata(&name, 0, metadata_type_name(metric_type));
            }
            Entry::Help { name, help } => cache.note_metadata(&name, 1, &help),
            Entry::Unit { name, unit } => cache.note_metadata(&name, 2, unit),
            Entry::Series(s) => {
                if flavor == TextFlavor::OpenMetrics
                    && is_created_series(&s.name, &family, family_type)
                {
                    continue;
                }
                let labels = s.labels.iter().map(|(n, v)| (&**n, &**v));
                let before = out.len();
                add_sample(
                    state,
                    cache,
                    out,
                    &s.name,
                    labels,
                    s.timestamp_ms,
                    SinkValue::Float(s.value),
                )?;
                // The sample just pushed (if relabeling kept it) carries the final labels.
                if let (Some(ex), Some(last)) =
                    (&s.exemplar, out.last().filter(|_| out.len() > before))
                {
                    cache.push_exemplar(crate::sink::SinkExemplar {
                        series: last.labels.clone(),
                        labels: Labels::from_pairs(ex.labels.iter().map(|(n, v)| (&**n, &**v))),
                        value: ex.value,
                        t: ex.timestamp_ms.unwrap_or(state.scrape_time_ms),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A type as the metadata APIs spell it: Prometheus reports untyped families as `unknown`.
fn metadata_type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Untyped => "unknown",
        other => other.as_text(),
    }
}

/// Formats a bucket bound or quantile like Prometheus's protobuf parser: integral values get
/// a `.0` so that `le="1.0"` matches what OpenMetrics targets expose.
fn format_bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e21 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn ingest_protobuf(
    body: &[u8],
    state: &mut State<'_, '_>,
    cache: &mut ScrapeCache,
    out: &mut Vec<SinkSample>,
) -> Result<(), ScrapeError> {
    let decoder = FamilyDecoder::new(body);
    for (index, msg) in decoder.enumerate() {
        let msg = msg.map_err(parse_error)?;
        // The conversion only knows the message, not where it started in the body, so its
        // errors are located by family instead.
        let fam = family_from_message(&msg, 0).map_err(|e| ScrapeError::Parse {
            position: format!("protobuf metric family #{} ({:?})", index + 1, msg.name),
            message: e.message().to_string(),
        })?;
        cache.note_metadata(&fam.name, 0, metadata_type_name(fam.metric_type));
        cache.note_metadata(&fam.name, 1, &fam.help);
        for m in &fam.metrics {
            let base = || m.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            let ts = m.timestamp_ms;
            if let Some(h) = &m.native_histogram {
                let value = SinkValue::Histogram(Arc::new((**h).clone()));
                add_sample(state, cache, out, &fam.name, base(), ts, value)?;
                if !state.settings.always_scrape_classic_histograms {
                    continue;
                }
            }
            match &m.value {
                MetricValue::Simple(v) => add_sample(
                    state,
                    cache,
                    out,
                    &fam.name,
                    base(),
                    ts,
                    SinkValue::Float(*v),
                )?,
                MetricValue::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    for (q, v) in quantiles {
                        let bound = format_bound(*q);
                        let mut pairs: Vec<(&str, &str)> = base().collect();
                        pairs.push(("quantile", &bound));
                        add_sample(
                            state,
                            cache,
                            out,
                            &fam.name,
                            pairs.iter().copied(),
                            ts,
                            SinkValue::Float(*v),
                        )?;
                    }
                    add_sum_and_count(state, cache, out, &fam.name, base(), ts, *sum, *count)?;
                }
                MetricValue::Histogram {
                    count,
                    sum,
                    buckets,
                } => {
                    let bucket_name = format!("{}_bucket", fam.name);
                    let mut saw_inf = false;
                    for (le, c) in buckets {
                        saw_inf |= *le == f64::INFINITY;
                        let bound = format_bound(*le);
                        let mut pairs: Vec<(&str, &str)> = base().collect();
                        pairs.push(("le", &bound));
                        add_sample(
                            state,
                            cache,
                            out,
                            &bucket_name,
                            pairs.iter().copied(),
                            ts,
                            SinkValue::Float(*c),
                        )?;
                    }
                    if !saw_inf && (!buckets.is_empty() || m.native_histogram.is_none()) {
                        let labels = base().chain([("le", "+Inf")]);
                        add_sample(
                            state,
                            cache,
                            out,
                            &bucket_name,
                            labels,
                            ts,
                            SinkValue::Float(*count),
                        )?;
                    }
                    add_sum_and_count(state, cache, out, &fam.name, base(), ts, *sum, *count)?;
                }
            }
        }
    }
    Ok(())
}

/// Builds the final labels of a series seen for the first time: exposed labels, target labels
/// per `honor_labels`, then metric relabeling. `None` means relabeling dropped it.
fn build_labels<'l>(
    settings: &IngestSettings<'_>,
    strings: &mut LabelStrings,
    name: &str,
    labels: impl Iterator<Item = (&'l str, &'l str)>,
) -> Option<Labels> {
    let mut b = LabelsBuilder::new();
    b.set(strings.get(METRIC_NAME), strings.get(name));
    for (n, v) in labels {
        b.set(strings.get(n), strings.get(v));
    }
    if settings.honor_labels {
        for l in settings.target_labels.iter() {
            if b.get(&l.name).is_none() {
                b.set(l.name.clone(), l.value.clone());
            }
        }
    } else {
        // Exposed labels that clash with target labels are kept as `exported_<name>` (with
        // more prefixes while that name is taken too), as Prometheus does.
        let mut conflicts = Vec::new();
        for l in settings.target_labels.iter() {
            if let Some(v) = b.get(&l.name) {
                conflicts.push((l.name.to_string(), v.to_string()));
            }
            b.set(l.name.clone(), l.value.clone());
        }
        // Shorter names first, as Prometheus resolves them, so the result does not depend on
        // label order.
        conflicts.sort_by_key(|(name, _)| name.len());
        for (name, value) in conflicts {
            let mut new_name = format!("exported_{name}");
            while b.get(&new_name).is_some() {
                new_name = format!("exported_{new_name}");
            }
            b.set(new_name, value);
        }
    }
    if !relabel::process_builder(&mut b, settings.metric_relabel_configs) {
        return None;
    }
    Some(b.build())
}

/// Checks `label_limit`, `label_name_length_limit` and `label_value_length_limit`, with
/// Prometheus's messages.
fn check_label_limits(settings: &IngestSettings<'_>, labels: &Labels) -> Result<(), ScrapeError> {
    let metric: String = labels
        .metric_name()
        .unwrap_or("")
        .chars()
        .take(50)
        .collect();
    if settings.label_limit > 0 && labels.len() as u64 > settings.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            settings.label_limit
        )));
    }
    for l in labels.iter() {
        let name_len = l.name.chars().count() as u64;
        if settings.label_name_length_limit > 0 && name_len > settings.label_name_length_limit {
            let short: String = l.name.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {short}, length: {name_len}, limit: {})",
                settings.label_name_length_limit
            )));
        }
        let value_len = l.value.chars().count() as u64;
        if settings.label_value_length_limit > 0 && value_len > settings.label_value_length_limit {
            let short: String = l.value.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {short:?}, length: {value_len}, limit: {})",
                l.name, settings.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// The `_sum` and `_count` series shared by summaries and classic histograms.
#[allow(clippy::too_many_arguments)]
fn add_sum_and_count<'l>(
    state: &mut State<'_, '_>,
    cache: &mut ScrapeCache,
    out: &mut Vec<SinkSample>,
    family: &str,
    labels: impl Iterator<Item = (&'l str, &'l str)> + Clone,
    timestamp_ms: Option<i64>,
    sum: f64,
    count: f64,
) -> Result<(), ScrapeError> {
    let sum_name = format!("{family}_sum");
    add_sample(
        state,
        cache,
        out,
        &sum_name,
        labels.clone(),
        timestamp_ms,
        SinkValue::Float(sum),
    )?;
    let count_name = format!("{family}_count");
    add_sample(
        state,
        cache,
        out,
        &count_name,
        labels,
        timestamp_ms,
        SinkValue::Float(count),
    )
}

fn add_sample<'l>(
    state: &mut State<'_, '_>,
    cache: &mut ScrapeCache,
    out: &mut Vec<SinkSample>,
    name: &str,
    labels: impl Iterator<Item = (&'l str, &'l str)> + Clone,
    timestamp_ms: Option<i64>,
    value: SinkValue,
) -> Result<(), ScrapeError> {
    state.counts.scraped += 1;
    let settings = state.settings;
    let explicit = timestamp_ms.is_some() && settings.honor_timestamps;
    let t = if settings.honor_timestamps {
        timestamp_ms.unwrap_or(state.scrape_time_ms)
    } else {
        state.scrape_time_ms
    };
    let iter = cache.iteration();
    cache.key_for(name, labels.clone());
    // Where the sample will go in the batch, if it survives the sample limit.
    let index = out.len();
    let batch_index = u32::try_from(index).unwrap_or(u32::MAX);
    // The series ref known for the series; 0 when none is known yet.
    let (final_labels, known_ref) = match cache.get_current() {
        Some(entry) => {
            if !ScrapeCache::touch(entry, iter, explicit) {
                // The same series twice in one body: Prometheus keeps the first sample.
                return Ok(());
            }
            entry.batch_index = batch_index;
            match &entry.labels {
                Some(l) => (l.clone(), entry.series_ref),
                None => return Ok(()),
            }
        }
        None if state.over_limit => {
            // The scrape already failed its sample limit and will be undone, so new series
            // are only counted, never cached: a target exposing millions of series must not
            // grow memory with label sets that are thrown away. Without metric relabeling
            // every series survives, so there is nothing to build.
            if settings.metric_relabel_configs.is_empty()
                || build_labels(settings, &mut LabelStrings::default(), name, labels).is_some()
            {
                state.counts.post_relabel += 1;
            }
            return Ok(());
        }
        None => {
            let built = build_labels(settings, cache.label_strings(), name, labels);
            if let Some(l) = &built {
                if l.metric_name().is_none() {
                    return Err(ScrapeError::Other(
                        "missing metric name (__name__ label) after metric relabeling".into(),
                    ));
                }
                check_label_limits(settings, l)?;
            }
            cache.insert_current(built.clone(), explicit).batch_index = batch_index;
            match built {
                Some(l) => {
                    state.counts.series_added += 1;
                    (l, 0)
                }
                None => return Ok(()),
            }
        }
    };
    state.counts.post_relabel += 1;
    if settings.sample_limit > 0 && state.counts.post_relabel > settings.sample_limit {
        // Keep counting so the error can say how many samples there were.
        state.over_limit = true;
        return Ok(());
    }
    if known_ref != 0 {
        cache.note_batch_ref(index, known_ref);
    }
    out.push(SinkSample {
        labels: final_labels,
        t,
        value,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<'a>(target: &'a Labels, relabel: &'a [RelabelConfig]) -> IngestSettings<'a> {
        IngestSettings {
            target_labels: target,
            honor_labels: false,
            honor_timestamps: true,
            metric_relabel_configs: relabel,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            always_scrape_classic_histograms: false,
        }
    }

    fn run(
        body: &str,
        s: &IngestSettings<'_>,
        cache: &mut ScrapeCache,
    ) -> Result<(IngestCounts, Vec<SinkSample>), ScrapeError> {
        cache.begin_iteration();
        let mut out = Vec::new();
        let counts = ingest(
            body.as_bytes(),
            ExpositionFormat::PrometheusText,
            1000,
            s,
            cache,
            &mut out,
        )?;
        Ok((counts, out))
    }

    #[test]
    fn series_refs_from_the_sink_come_back_as_hints() {
        let target = Labels::from_pairs([("job", "j")]);
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        let body = "a 1\nb{x=\"1\"} 2\n";
        let (_, out) = run(body, &s, &mut cache).unwrap();
        // New series have no ref until the sink reports one.
        let mut refs = cache.take_batch_refs(out.len() + 1);
        assert_eq!(refs, vec![0, 0, 0]);
        refs.copy_from_slice(&[7, 9, 11]);
        cache.store_batch_refs(refs);
        let (_, out) = run("b{x=\"1\"} 3\nc 4\na 5\n", &s, &mut cache).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(cache.take_batch_refs(out.len()), vec![9, 0, 7]);
        // A failed scrape's hints are dropped with its samples.
        cache.begin_iteration();
        cache.note_batch_ref(0, 5);
        cache.discard_batch_refs();
        assert_eq!(cache.take_batch_refs(1), vec![0]);
    }

    #[test]
    fn series_of_a_target_share_label_strings() {
        let target = Labels::from_pairs([("job", "j")]);
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        let (_, out) = run("m{le=\"1\"} 1\nm{le=\"2\"} 2\n", &s, &mut cache).unwrap();
        let name = |i: usize, label: &str| {
            out[i]
                .labels
                .iter()
                .find(|l| &*l.name == label)
                .map(|l| (l.name.clone(), l.value.clone()))
                .unwrap()
        };
        let (n0, v0) = name(0, METRIC_NAME);
        let (n1, v1) = name(1, METRIC_NAME);
        assert!(Arc::ptr_eq(&n0, &n1) && Arc::ptr_eq(&v0, &v1));
        assert!(Arc::ptr_eq(&name(0, "le").0, &name(1, "le").0));
    }

    #[test]
    fn metadata_and_exemplars_are_kept_for_the_apis() {
        let target = Labels::from_pairs([("job", "j")]);
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        cache.begin_iteration();
        let mut out = Vec::new();
        let body = "# HELP req Requests.\n# TYPE req counter\nreq_total 3 # {trace_id=\"t1\"} 1.5 2.5\n# TYPE t_celsius gauge\n# UNIT t_celsius celsius\nt_celsius{a=\"b\"} 1 # {x=\"y\"} 4\n# EOF\n";
        ingest(
            body.as_bytes(),
            ExpositionFormat::OpenMetrics1_0_0,
            1000,
            &s,
            &mut cache,
            &mut out,
        )
        .expect("valid body");
        let md = cache.take_metadata_update().expect("metadata changed");
        assert_eq!(md.len(), 2);
        assert_eq!(
            (
                md[0].metric.as_str(),
                md[0].metric_type.as_str(),
                md[0].help.as_str()
            ),
            ("req", "counter", "Requests.")
        );
        assert_eq!(md[1].unit, "celsius");
        assert!(cache.take_metadata_update().is_none(), "unchanged since");
        let ex = cache.take_exemplars();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].series.get("job"), Some("j"));
        assert_eq!(ex[0].labels.get("trace_id"), Some("t1"));
        assert_eq!((ex[0].value, ex[0].t), (1.5, 2500));
        // Without its own timestamp an exemplar takes the scrape's.
        assert_eq!((ex[1].value, ex[1].t), (4.0, 1000));
    }

    #[test]
    fn target_labels_and_exported_conflicts() {
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        let (counts, out) = run(
            "a{job=\"x\",exported_job=\"y\"} 1\nb 2 5000\n",
            &s,
            &mut cache,
        )
        .unwrap_or_default();
        assert_eq!(
            counts,
            IngestCounts {
                scraped: 2,
                post_relabel: 2,
                series_added: 2
            }
        );
        assert_eq!(out[0].labels.get("job"), Some("node"));
        assert_eq!(out[0].labels.get("exported_job"), Some("y"));
        assert_eq!(out[0].labels.get("exported_exported_job"), Some("x"));
        assert_eq!(out[1].t, 5000);
        assert_eq!(out[0].t, 1000);

        let honor = IngestSettings {
            honor_labels: true,
            honor_timestamps: false,
            ..settings(&target, &[])
        };
        let mut cache = ScrapeCache::new();
        let (_, out) = run("a{job=\"x\"} 1\nb 2 5000\n", &honor, &mut cache).unwrap_or_default();
        assert_eq!(out[0].labels.get("job"), Some("x"));
        assert_eq!(out[0].labels.get("instance"), Some("h:1"));
        assert_eq!(out[1].t, 1000);
    }

    #[test]
    fn cache_reuses_label_sets_and_tracks_additions() {
        let target = Labels::from_pairs([("job", "j")]);
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        let (_, first) = run("a 1\nb 2\n", &s, &mut cache).unwrap_or_default();
        let (counts, second) = run("a 1\nb 2\nc 3\n", &s, &mut cache).unwrap_or_default();
        assert_eq!(counts.series_added, 1);
        assert_eq!(cache.len(), 3);
        // Same Arc-backed label set: equal and cheap.
        assert_eq!(first[0].labels, second[0].labels);
        let mut gone = Vec::new();
        cache.begin_iteration();
        let mut out = Vec::new();
        let _ = ingest(
            b"a 1\n",
            ExpositionFormat::PrometheusText,
            2000,
            &s,
            &mut cache,
            &mut out,
        );
        cache.disappeared(false, &mut gone);
        let mut names: Vec<&str> = gone.iter().filter_map(|l| l.metric_name()).collect();
        names.sort_unstable();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn explicit_timestamps_skip_staleness_unless_tracked() {
        let target = Labels::empty();
        let s = settings(&target, &[]);
        for (track, want) in [(false, vec!["b"]), (true, vec!["a", "b"])] {
            let mut cache = ScrapeCache::new();
            let _ = run("a 1 500\nb 2\n", &s, &mut cache);
            let _ = run("", &s, &mut cache);
            let mut gone = Vec::new();
            // `run` already started the second iteration; ask what it lost.
            cache.disappeared(track, &mut gone);
            let mut names: Vec<&str> = gone.iter().filter_map(|l| l.metric_name()).collect();
            names.sort_unstable();
            assert_eq!(names, want, "track_timestamps_staleness: {track}");
        }
    }

    #[test]
    fn metric_relabeling_drops_and_counts() {
        let target = Labels::empty();
        let rules: Vec<RelabelConfig> = serde_saphyr::from_str(
            "- source_labels: [__name__]\n  regex: 'go_.*'\n  action: drop\n",
        )
        .unwrap_or_default();
        let s = settings(&target, &rules);
        let mut cache = ScrapeCache::new();
        let (counts, out) = run("go_x 1\ngo_y 1\nkeep 1\n", &s, &mut cache).unwrap_or_default();
        assert_eq!((counts.scraped, counts.post_relabel, out.len()), (3, 1, 1));
        let (counts, _) = run("go_x 1\ngo_y 1\nkeep 1\n", &s, &mut cache).unwrap_or_default();
        assert_eq!(
            (counts.scraped, counts.post_relabel, counts.series_added),
            (3, 1, 0)
        );
    }

    #[test]
    fn relabeling_away_the_name_fails_the_scrape() {
        let target = Labels::empty();
        let rules: Vec<RelabelConfig> =
            serde_saphyr::from_str("- regex: __name__\n  action: labeldrop\n").unwrap_or_default();
        let s = settings(&target, &rules);
        let err = run("a 1\n", &s, &mut ScrapeCache::new())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("missing metric name (__name__ label) after metric relabeling")
        );
    }

    #[test]
    fn limits_fail_the_scrape() {
        let target = Labels::from_pairs([("job", "j")]);
        let s = IngestSettings {
            sample_limit: 2,
            ..settings(&target, &[])
        };
        let err = run("a 1\nb 1\nc 1\n", &s, &mut ScrapeCache::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "sample limit exceeded: 3 samples, sample_limit is 2");
        let s = IngestSettings {
            label_limit: 2,
            ..settings(&target, &[])
        };
        let err = run("a{x=\"1\",y=\"2\"} 1\n", &s, &mut ScrapeCache::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "label_limit exceeded (metric: a, number of labels: 4, limit: 2)"
        );
        let s = IngestSettings {
            label_value_length_limit: 3,
            ..settings(&target, &[])
        };
        let err = run("a{x=\"long\"} 1\n", &s, &mut ScrapeCache::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "label_value_length_limit exceeded (metric: a, label name: x, value: \"long\", length: 4, limit: 3)");
        let s = IngestSettings {
            label_name_length_limit: 3,
            ..settings(&target, &[])
        };
        let err = run("a{long=\"x\"} 1\n", &s, &mut ScrapeCache::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("label_name_length_limit exceeded (metric: a, label name: __name__"),
            "{err}"
        );
    }

    #[test]
    fn series_past_the_sample_limit_are_counted_not_cached() {
        let target = Labels::from_pairs([("job", "j")]);
        let body: String = (0..1000).map(|i| format!("s{{n=\"{i}\"}} 1\n")).collect();
        let s = IngestSettings {
            sample_limit: 10,
            ..settings(&target, &[])
        };
        let mut cache = ScrapeCache::new();
        let err = run(&body, &s, &mut cache)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "sample limit exceeded: 1000 samples, sample_limit is 10"
        );
        assert!(cache.len() <= 11, "{} cached", cache.len());
        // With relabeling the survivors are still counted exactly.
        let rules: Vec<RelabelConfig> =
            serde_saphyr::from_str("- source_labels: [n]\n  regex: '.*5'\n  action: drop\n")
                .unwrap_or_default();
        let s = IngestSettings {
            sample_limit: 10,
            ..settings(&target, &rules)
        };
        let mut cache = ScrapeCache::new();
        let err = run(&body, &s, &mut cache)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "sample limit exceeded: 900 samples, sample_limit is 10"
        );
        assert!(cache.len() <= 13, "{} cached", cache.len());
    }

    #[test]
    fn parse_errors_have_positions() {
        let target = Labels::empty();
        let s = settings(&target, &[]);
        let err = run("ok 1\nbad{ 1\n", &s, &mut ScrapeCache::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("parse error at line 2, column "), "{err}");
    }

    #[test]
    fn openmetrics_created_series_are_skipped() {
        let target = Labels::empty();
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        cache.begin_iteration();
        let body = "# TYPE c counter\nc_total 1\nc_created 1700000000\n# TYPE g gauge\ng_created 5\n# EOF\n";
        let mut out = Vec::new();
        let counts = ingest(
            body.as_bytes(),
            ExpositionFormat::OpenMetrics1_0_0,
            1,
            &s,
            &mut cache,
            &mut out,
        );
        let names: Vec<&str> = out.iter().filter_map(|x| x.labels.metric_name()).collect();
        assert_eq!(names, ["c_total", "g_created"], "{counts:?}");
    }

    #[test]
    fn protobuf_bodies_are_expanded() {
        let mut fam = pharos_model::MetricFamily::new("rpc_seconds", "h", MetricType::Histogram);
        fam.metrics.push(pharos_model::Metric::new(
            vec![("svc".into(), "a".into())],
            MetricValue::Histogram {
                count: 3.0,
                sum: 1.5,
                buckets: vec![(0.5, 1.0), (1.0, 2.0)],
            },
        ));
        let mut body = Vec::new();
        pharos_model::protobuf::encode_families(&[fam], &mut body);
        let target = Labels::empty();
        let s = settings(&target, &[]);
        let mut cache = ScrapeCache::new();
        cache.begin_iteration();
        let mut out = Vec::new();
        let counts = ingest(
            &body,
            ExpositionFormat::ProtobufDelimited,
            1,
            &s,
            &mut cache,
            &mut out,
        )
        .unwrap_or_default();
        assert_eq!(counts.scraped, 5);
        let les: Vec<&str> = out.iter().filter_map(|x| x.labels.get("le")).collect();
        assert_eq!(les, ["0.5", "1.0", "+Inf"]);
    }
}

//! Remote write 1.0: `prometheus.WriteRequest` with inline label strings.
//!
//! Field numbers: WriteRequest{1 timeseries, 3 metadata}; TimeSeries{1 labels, 2 samples,
//! 3 exemplars, 4 histograms}; Label{1 name, 2 value}; Sample{1 value, 2 timestamp};
//! Exemplar{1 labels, 2 value, 3 timestamp}; MetricMetadata{1 type, 2 metric_family_name,
//! 4 help, 5 unit}.

use std::collections::HashMap;

use pharos_model::protobuf::wire::{Reader, LEN, VARINT};
use pharos_model::{Labels, MetricType, ParseError};
use pharos_tsdb::exemplar::{Exemplar, Metadata};

use crate::decode_error::DecodeError;
use crate::histogram_message::decode_histogram;
use crate::symbol_interner::SymbolInterner;
use crate::write_batch::{labels_from_pairs, SeriesWrite, WriteBatch};

/// Decodes an uncompressed 1.0 body. Metadata entries are attached to the series of the same
/// metric name in this request (1.0 sends them by family name, not per series).
pub fn decode_v1(body: &[u8]) -> Result<WriteBatch, DecodeError> {
    let mut r = Reader::new(body, 0);
    let mut batch = WriteBatch::default();
    let mut metadata: HashMap<String, Metadata> = HashMap::new();
    let mut interner = SymbolInterner::default();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "WriteRequest.timeseries")?;
                batch.series.push(decode_series(r.sub()?, &mut interner)?);
            }
            3 => {
                r.expect(wt, LEN, "WriteRequest.metadata")?;
                let (name, m) = decode_metadata(r.sub()?)?;
                metadata.insert(name, m);
            }
            _ => r.skip(wt)?,
        }
    }
    if !metadata.is_empty() {
        for s in &mut batch.series {
            let name = s.labels.as_ref().ok().and_then(Labels::metric_name);
            if let Some(m) = name.and_then(|n| metadata.get(n)) {
                s.metadata = Some(m.clone());
            }
        }
    }
    Ok(batch)
}

fn decode_series<'a>(
    mut r: Reader<'a>,
    interner: &mut SymbolInterner<'a>,
) -> Result<SeriesWrite, ParseError> {
    let mut pairs = Vec::new();
    let mut s = SeriesWrite {
        labels: Ok(Labels::empty()),
        samples: Vec::new(),
        histograms: Vec::new(),
        exemplars: Vec::new(),
        metadata: None,
        created_timestamp: 0,
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "TimeSeries.labels")?;
                pairs.push(decode_label(r.sub()?)?);
            }
            2 => {
                r.expect(wt, LEN, "TimeSeries.samples")?;
                s.samples.push(decode_sample(r.sub()?)?);
            }
            3 => {
                r.expect(wt, LEN, "TimeSeries.exemplars")?;
                s.exemplars.push(decode_exemplar(r.sub()?)?);
            }
            4 => {
                r.expect(wt, LEN, "TimeSeries.histograms")?;
                s.histograms.push(decode_histogram(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    s.labels = labels_from_pairs(pairs, interner);
    Ok(s)
}

/// Decodes a `Label` message (the same in remote write 1.0 and remote read).
pub(crate) fn decode_label<'a>(mut r: Reader<'a>) -> Result<(&'a str, &'a str), ParseError> {
    let (mut name, mut value) = ("", "");
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "Label.name")?;
                name = r.string()?;
            }
            2 => {
                r.expect(wt, LEN, "Label.value")?;
                value = r.string()?;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((name, value))
}

/// Decodes a `Sample` (the same message in 1.0 and 2.0) as (timestamp, value).
pub(crate) fn decode_sample(mut r: Reader<'_>) -> Result<(i64, f64), ParseError> {
    let (mut t, mut v) = (0i64, 0.0f64);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => v = r.double(wt, "Sample.value")?,
            2 => {
                r.expect(wt, VARINT, "Sample.timestamp")?;
                t = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((t, v))
}

fn decode_exemplar(mut r: Reader<'_>) -> Result<Exemplar, ParseError> {
    let mut pairs = Vec::new();
    let (mut t, mut value) = (0i64, 0.0f64);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, LEN, "Exemplar.labels")?;
                pairs.push(decode_label(r.sub()?)?);
            }
            2 => value = r.double(wt, "Exemplar.value")?,
            3 => {
                r.expect(wt, VARINT, "Exemplar.timestamp")?;
                t = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(Exemplar {
        labels: Labels::from_pairs(pairs),
        value,
        t,
    })
}

fn decode_metadata(mut r: Reader<'_>) -> Result<(String, Metadata), ParseError> {
    let mut name = "";
    let mut m = Metadata {
        metric_type: MetricType::Untyped,
        unit: String::new(),
        help: String::new(),
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "MetricMetadata.type")?;
                m.metric_type = metric_type_from_wire(r.varint()?);
            }
            2 => {
                r.expect(wt, LEN, "MetricMetadata.metric_family_name")?;
                name = r.string()?;
            }
            4 => {
                r.expect(wt, LEN, "MetricMetadata.help")?;
                m.help = r.string()?.to_owned();
            }
            5 => {
                r.expect(wt, LEN, "MetricMetadata.unit")?;
                m.unit = r.string()?.to_owned();
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((name.to_owned(), m))
}

/// The metric type enum shared by 1.0's `MetricMetadata` and 2.0's `Metadata`.
pub(crate) fn metric_type_from_wire(v: u64) -> MetricType {
    match v {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Untyped,
    }
}

//! Remote write 2.0: `io.prometheus.write.v2.Request`, whose strings live once in a symbols
//! table and are referenced by index.
//!
//! Field numbers: Request{4 symbols, 5 timeseries}; TimeSeries{1 labels_refs, 2 samples,
//! 3 histograms, 4 exemplars, 5 metadata, 6 created_timestamp}; Exemplar{1 labels_refs,
//! 2 value, 3 timestamp}; Metadata{1 type, 3 help_ref, 4 unit_ref}.

use pharos_model::protobuf::wire::{Reader, LEN, VARINT};
use pharos_model::{Labels, MetricType, ParseError};
use pharos_tsdb::exemplar::{Exemplar, Metadata};

use crate::decode_error::DecodeError;
use crate::histogram_message::decode_histogram;
use crate::symbol_interner::SymbolInterner;
use crate::write_batch::{labels_from_pairs, SeriesWrite, WriteBatch};
use crate::write_v1::{decode_sample, metric_type_from_wire};

/// A series before its references are resolved: symbols may follow the series on the wire.
struct RawSeries {
    label_refs: Vec<u64>,
    exemplars: Vec<(Vec<u64>, f64, i64)>,
    metadata: Option<(MetricType, u64, u64)>,
    out: SeriesWrite,
    /// Where the series starts, for error messages.
    offset: usize,
}

/// Decodes an uncompressed 2.0 body, resolving every symbol reference.
pub fn decode_v2(body: &[u8]) -> Result<WriteBatch, DecodeError> {
    let mut r = Reader::new(body, 0);
    let mut symbols: Vec<&str> = Vec::new();
    let mut raw: Vec<RawSeries> = Vec::new();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            4 => {
                r.expect(wt, LEN, "Request.symbols")?;
                symbols.push(r.string()?);
            }
            5 => {
                r.expect(wt, LEN, "Request.timeseries")?;
                raw.push(decode_series(r.sub()?)?);
            }
            _ => r.skip(wt)?,
        }
    }
    let symbol = |i: u64, offset: usize| -> Result<&str, DecodeError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| symbols.get(i))
            .copied()
            .ok_or_else(|| {
                DecodeError::Invalid(format!(
                    "series at byte {offset}: symbol reference {i} is outside the {} symbols sent",
                    symbols.len()
                ))
            })
    };
    let pairs = |refs: &[u64], offset: usize| -> Result<Vec<(&str, &str)>, DecodeError> {
        if refs.len() & 1 == 1 {
            return Err(DecodeError::Invalid(format!(
                "series at byte {offset}: odd number ({}) of label references",
                refs.len()
            )));
        }
        refs.chunks_exact(2)
            .map(|c| Ok((symbol(c[0], offset)?, symbol(c[1], offset)?)))
            .collect()
    };
    let mut interner = SymbolInterner::default();
    let mut batch = WriteBatch {
        series: Vec::with_capacity(raw.len()),
    };
    for s in raw {
        let mut out = s.out;
        out.labels = labels_from_pairs(pairs(&s.label_refs, s.offset)?, &mut interner);
        for (refs, value, t) in s.exemplars {
            out.exemplars.push(Exemplar {
                labels: Labels::from_pairs(pairs(&refs, s.offset)?),
                value,
                t,
            });
        }
        // Metadata is advisory: a bad reference drops the text rather than the samples.
        if let Some((metric_type, help, unit)) = s.metadata {
            out.metadata = Some(Metadata {
                metric_type,
                help: symbol(help, s.offset).unwrap_or_default().to_owned(),
                unit: symbol(unit, s.offset).unwrap_or_default().to_owned(),
            });
        }
        batch.series.push(out);
    }
    Ok(batch)
}

fn decode_series(mut r: Reader<'_>) -> Result<RawSeries, ParseError> {
    let mut s = RawSeries {
        label_refs: Vec::new(),
        exemplars: Vec::new(),
        metadata: None,
        out: SeriesWrite {
            labels: Ok(Labels::empty()),
            samples: Vec::new(),
            histograms: Vec::new(),
            exemplars: Vec::new(),
            metadata: None,
            created_timestamp: 0,
        },
        offset: r.offset(),
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => r.repeated(wt, VARINT, "TimeSeries.labels_refs", |p| {
                s.label_refs.push(p.varint()?);
                Ok(())
            })?,
            2 => {
                r.expect(wt, LEN, "TimeSeries.samples")?;
                s.out.samples.push(decode_sample(r.sub()?)?);
            }
            3 => {
                r.expect(wt, LEN, "TimeSeries.histograms")?;
                s.out.histograms.push(decode_histogram(r.sub()?)?);
            }
            4 => {
                r.expect(wt, LEN, "TimeSeries.exemplars")?;
                s.exemplars.push(decode_exemplar(r.sub()?)?);
            }
            5 => {
                r.expect(wt, LEN, "TimeSeries.metadata")?;
                s.metadata = Some(decode_metadata(r.sub()?)?);
            }
            6 => {
                r.expect(wt, VARINT, "TimeSeries.created_timestamp")?;
                s.out.created_timestamp = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(s)
}

fn decode_exemplar(mut r: Reader<'_>) -> Result<(Vec<u64>, f64, i64), ParseError> {
    let mut refs = Vec::new();
    let (mut value, mut t) = (0.0f64, 0i64);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => r.repeated(wt, VARINT, "Exemplar.labels_refs", |p| {
                refs.push(p.varint()?);
                Ok(())
            })?,
            2 => value = r.double(wt, "Exemplar.value")?,
            3 => {
                r.expect(wt, VARINT, "Exemplar.timestamp")?;
                t = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((refs, value, t))
}

fn decode_metadata(mut r: Reader<'_>) -> Result<(MetricType, u64, u64), ParseError> {
    let (mut metric_type, mut help, mut unit) = (MetricType::Untyped, 0u64, 0u64);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(wt, VARINT, "Metadata.type")?;
                metric_type = metric_type_from_wire(r.varint()?);
            }
            3 => {
                r.expect(wt, VARINT, "Metadata.help_ref")?;
                help = r.varint()?;
            }
            4 => {
                r.expect(wt, VARINT, "Metadata.unit_ref")?;
                unit = r.varint()?;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((metric_type, help, unit))
}

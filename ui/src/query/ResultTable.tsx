import { memo } from 'react';
import { formatSeries, formatTime } from '../format';
import { useT } from '../i18n';
import { formatBucketBounds, type HistogramValue, type QueryData, type SamplePair } from './queryResult';

/** At most this many rows are drawn; more would only slow the page down. */
const MAX_ROWS = 1000;

function HistogramCell({ h }: { h: HistogramValue }) {
  const t = useT();
  const buckets = (h.buckets ?? []).filter((b) => Number(b[3]) !== 0);
  return (
    <div className="histogram-cell">
      <div>
        <strong>{t('query.histogramCount')}</strong>: {h.count} · <strong>{t('query.histogramSum')}</strong>: {h.sum}
      </div>
      {buckets.length > 0 && (
        <details>
          <summary>
            {t('query.histogramBuckets')} ({buckets.length})
          </summary>
          <table className="bucket-table">
            <tbody>
              {buckets.map((b, i) => (
                <tr key={i}>
                  <td className="mono">{formatBucketBounds(b[0], b[1], b[2])}</td>
                  <td className="num">{b[3]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </div>
  );
}

function SampleList({ values }: { values: SamplePair[] }) {
  return (
    <span className="sample-list">
      {values.map(([ts, v], i) => (
        <span key={i}>
          {v} <span className="muted">@{ts}</span>
          <br />
        </span>
      ))}
    </span>
  );
}

/** The table view of a query result: series labels as `name{a="b"}` and their values. */
export const ResultTable = memo(function ResultTable({ data }: { data: QueryData }) {
  const t = useT();
  let rows: Array<{ key: string; series: string; value: React.ReactNode }> = [];
  let total = 0;
  switch (data.resultType) {
    case 'scalar':
    case 'string':
      total = 1;
      rows = [
        {
          key: 'single',
          series: data.resultType === 'scalar' ? t('query.scalar') : t('query.string'),
          value: data.result[1],
        },
      ];
      break;
    case 'vector':
      total = data.result.length;
      rows = data.result.slice(0, MAX_ROWS).map((s, i) => ({
        key: String(i),
        series: formatSeries(s.metric),
        value: s.histogram ? <HistogramCell h={s.histogram[1]} /> : (s.value?.[1] ?? ''),
      }));
      break;
    case 'matrix':
      total = data.result.length;
      rows = data.result.slice(0, MAX_ROWS).map((s, i) => ({
        key: String(i),
        series: formatSeries(s.metric),
        value: (
          <>
            {s.values && <SampleList values={s.values} />}
            {s.histograms?.map(([ts, h], j) => (
              <div key={j}>
                <HistogramCell h={h} /> <span className="muted">@{formatTime(ts)}</span>
              </div>
            ))}
          </>
        ),
      }));
      break;
  }
  return (
    <div className="table-scroll">
      {total > MAX_ROWS && <p className="alert alert-warn">{t('query.truncated', { shown: MAX_ROWS, total })}</p>}
      <table className="data-table result-table" data-testid="result-table">
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <td className="series-cell mono">{r.series}</td>
              <td className="value-cell num">{r.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
});

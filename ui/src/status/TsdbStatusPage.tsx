import { RequestStatus } from '../components/RequestStatus';
import { formatBytes, formatCount, formatTime } from '../format';
import { useT, type TextKey } from '../i18n';
import { useApi } from '../useApi';

interface NameValue {
  name: string;
  value: number;
}

interface TsdbData {
  headStats?: { numSeries?: number; numLabelPairs?: number; chunkCount?: number; minTime?: number; maxTime?: number };
  seriesCountByMetricName?: NameValue[];
  labelValueCountByLabelName?: NameValue[];
  memoryInBytesByLabelName?: NameValue[];
  seriesCountByLabelValuePair?: NameValue[];
}

function timeOrDash(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || Math.abs(ms) >= 8.64e15) return '-';
  return `${formatTime(ms / 1000)} UTC`;
}

function TopTable({ title, rows, bytes }: { title: TextKey; rows: NameValue[] | undefined; bytes?: boolean }) {
  const t = useT();
  return (
    <section className="card">
      <h2>{t(title)}</h2>
      {!rows || rows.length === 0 ? (
        <p className="muted">{t('tsdb.empty')}</p>
      ) : (
        <div className="table-scroll">
          <table className="data-table">
            <thead>
              <tr>
                <th>{t('common.name')}</th>
                <th className="num">{bytes ? t('tsdb.bytes') : t('tsdb.count')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name}>
                  <td className="mono">{r.name}</td>
                  <td className="num">{bytes ? formatBytes(r.value) : formatCount(r.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Status -> TSDB status: head statistics and the top cardinality tables. */
export function TsdbStatusPage() {
  const t = useT();
  const state = useApi<TsdbData>('status/tsdb');
  return (
    <div className="page">
      <h1 className="page-title" data-testid="page-title">
        {t('tsdb.title')}
      </h1>
      <RequestStatus state={state}>
        {(d) => (
          <>
            <section className="card">
              <h2>{t('tsdb.head')}</h2>
              <div className="stat-grid">
                {(
                  [
                    ['tsdb.numSeries', formatCount(d.headStats?.numSeries ?? 0)],
                    ['tsdb.chunkCount', formatCount(d.headStats?.chunkCount ?? 0)],
                    ['tsdb.numLabelPairs', formatCount(d.headStats?.numLabelPairs ?? 0)],
                    ['tsdb.minTime', timeOrDash(d.headStats?.minTime)],
                    ['tsdb.maxTime', timeOrDash(d.headStats?.maxTime)],
                  ] as Array<[TextKey, string]>
                ).map(([k, v]) => (
                  <div className="stat" key={k}>
                    <div className="stat-label">{t(k)}</div>
                    <div className="stat-value">{v}</div>
                  </div>
                ))}
              </div>
            </section>
            <div className="two-col">
              <TopTable title="tsdb.byMetric" rows={d.seriesCountByMetricName} />
              <TopTable title="tsdb.byLabelName" rows={d.labelValueCountByLabelName} />
              <TopTable title="tsdb.byMemory" rows={d.memoryInBytesByLabelName} bytes />
              <TopTable title="tsdb.byPair" rows={d.seriesCountByLabelValuePair} />
            </div>
          </>
        )}
      </RequestStatus>
    </div>
  );
}

import { memo, useMemo, useState } from 'react';
import { CollapseHeader } from '../components/CollapseHeader';
import { LabelBadges } from '../components/LabelBadges';
import { RequestStatus } from '../components/RequestStatus';
import { useT, type Translate } from '../i18n';
import { useApi } from '../useApi';
import { groupBy, type TargetsData } from './targetTypes';
import type { LabelSet } from '../format';

interface SdRow {
  discovered: LabelSet;
  target: LabelSet | null;
}

/** Does a row carry every word of the filter in its discovered or target labels? */
function sdRowMatches(r: SdRow, words: string[]): boolean {
  const hay = [r.discovered, r.target ?? {}]
    .flatMap((l) => Object.entries(l).map(([k, v]) => `${k}="${v}"`))
    .join(' ')
    .toLowerCase();
  return words.every((w) => hay.includes(w));
}

/** Rows drawn per pool before "show all"; discovered label sets can be long. */
const ROW_LIMIT = 200;

const SdPool = memo(function SdPool({
  name,
  rows,
  droppedCount,
  t,
}: {
  name: string;
  rows: SdRow[];
  droppedCount: number;
  t: Translate;
}) {
  const [open, setOpen] = useState(true);
  const [all, setAll] = useState(false);
  const active = rows.filter((r) => r.target !== null).length;
  const shown = all ? rows : rows.slice(0, ROW_LIMIT);
  return (
    <section className="card pool" data-testid="sd-pool" data-pool={name}>
      <CollapseHeader open={open} onToggle={() => setOpen((o) => !o)}>
        <span className="pool-name">{name}</span>
        <span className="badge badge-up">{t('sd.active', { n: active })}</span>
        <span className="badge badge-neutral">{t('sd.dropped', { n: droppedCount })}</span>
      </CollapseHeader>
      {open && (
        <div className="table-scroll">
          <table className="data-table">
            <thead>
              <tr>
                <th>{t('sd.discoveredLabels')}</th>
                <th>{t('sd.targetLabels')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r, i) => (
                <tr key={i}>
                  <td>
                    <LabelBadges labels={r.discovered} />
                  </td>
                  <td>
                    {r.target ? (
                      <LabelBadges labels={r.target} />
                    ) : (
                      <span className="badge badge-neutral">{t('sd.droppedByRelabel')}</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length < rows.length && (
            <button type="button" className="btn" onClick={() => setAll(true)}>
              {t('common.expandAll')} ({rows.length})
            </button>
          )}
        </div>
      )}
    </section>
  );
});

/** Status -> Service discovery: discovered labels against target labels, and dropped targets. */
export function ServiceDiscoveryPage() {
  const t = useT();
  const state = useApi<TargetsData>('targets');
  const [text, setText] = useState('');
  const words = useMemo(() => text.toLowerCase().split(/\s+/).filter(Boolean), [text]);
  const data = state.result?.data;
  const pools = useMemo(() => {
    const rows: Array<SdRow & { pool: string }> = [];
    for (const a of data?.activeTargets ?? [])
      rows.push({ pool: a.scrapePool, discovered: a.discoveredLabels, target: a.labels });
    for (const d of data?.droppedTargets ?? [])
      rows.push({
        pool: d.scrapePool ?? d.discoveredLabels['job'] ?? '',
        discovered: d.discoveredLabels,
        target: null,
      });
    const names = new Set(Object.keys(data?.droppedTargetCounts ?? {}));
    const grouped = groupBy(rows, (r) => r.pool);
    for (const [n] of grouped) names.delete(n);
    for (const n of names) grouped.push([n, []]);
    return grouped.sort((a, b) => a[0].localeCompare(b[0]));
  }, [data]);
  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title" data-testid="page-title">
          {t('sd.title')}
        </h1>
        <button type="button" className="btn" onClick={state.reload} disabled={state.loading}>
          ↻ {t('common.refresh')}
        </button>
      </div>
      <div className="filters">
        <input
          className="input"
          data-testid="sd-filter-text"
          placeholder={t('sd.filterText')}
          aria-label={t('sd.filterText')}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </div>
      <RequestStatus state={state}>
        {() =>
          pools.length === 0 ? (
            <div className="alert alert-info">{t('sd.none')}</div>
          ) : (
            pools.map(([name, rows]) => {
              const shown = words.length === 0 ? rows : rows.filter((r) => sdRowMatches(r, words));
              if (words.length > 0 && shown.length === 0) return null;
              return (
                <SdPool
                  key={name}
                  name={name}
                  rows={shown}
                  droppedCount={data?.droppedTargetCounts?.[name] ?? rows.filter((r) => r.target === null).length}
                  t={t}
                />
              );
            })
          )
        }
      </RequestStatus>
    </div>
  );
}

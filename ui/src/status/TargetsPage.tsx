import { memo, useEffect, useMemo, useState } from 'react';
import { CollapseHeader } from '../components/CollapseHeader';
import { LabelBadges } from '../components/LabelBadges';
import { RequestStatus } from '../components/RequestStatus';
import { humanizeDuration, secondsSince } from '../format';
import { useT, type TextKey, type Translate } from '../i18n';
import { scrapeErrorAdvice } from '../scrapeErrorAdvice';
import { useApi } from '../useApi';
import { groupBy, targetMatches, type ActiveTarget, type TargetsData } from './targetTypes';

type HealthFilter = 'all' | 'up' | 'down' | 'unknown';

const HEALTH_TEXT = { up: 'targets.up', down: 'targets.down', unknown: 'targets.unknown' } as const;
const HEALTH_ORDER: Record<ActiveTarget['health'], number> = { down: 0, unknown: 1, up: 2 };

/** The state badge of a target. */
export function HealthBadge({ health, t }: { health: ActiveTarget['health']; t: Translate }) {
  return <span className={`badge badge-${health}`}>{t(HEALTH_TEXT[health] ?? 'targets.unknown')}</span>;
}

function DiscoveredLabels({ labels, t }: { labels: ActiveTarget['discoveredLabels']; t: Translate }) {
  // Rendered only when opened: a page of 1,000 targets would otherwise build every hidden badge.
  const [open, setOpen] = useState(false);
  return (
    <div className="discovered">
      <button type="button" className="link-button small" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        {open ? '▾' : '▸'} {t('targets.discovered')}
      </button>
      {open && <LabelBadges labels={labels} />}
    </div>
  );
}

/** How often the page reloads the targets when auto-refresh is on. */
const AUTO_REFRESH_MS = 10_000;

/** Pools with more rows than this skip layout and paint of rows off screen (CSS content-visibility). */
const LAZY_PAINT_ROWS = 100;

/** Above this many failing targets in a pool, advice is given once per kind of error, above the table. */
const ROW_ADVICE_LIMIT = 10;

const TargetRow = memo(function TargetRow({
  target,
  now,
  showAdvice,
  t,
}: {
  target: ActiveTarget;
  now: number;
  showAdvice: boolean;
  t: Translate;
}) {
  const ago = secondsSince(target.lastScrape, now);
  return (
    <div
      role="row"
      data-testid="target-row"
      data-health={target.health}
      data-endpoint={target.scrapeUrl}
      className={`target-grid-row row-${target.health}`}
    >
      <div role="cell" className="endpoint-cell">
        <a href={target.scrapeUrl} target="_blank" rel="noreferrer" className="mono">
          {target.scrapeUrl}
        </a>
        {target.scrapeInterval && (
          <div className="muted small">
            {t('targets.interval', { interval: target.scrapeInterval, timeout: target.scrapeTimeout ?? '-' })}
          </div>
        )}
      </div>
      <div role="cell">
        <HealthBadge health={target.health} t={t} />
      </div>
      <div role="cell" className="labels-cell">
        <LabelBadges labels={target.labels} />
        <DiscoveredLabels labels={target.discoveredLabels} t={t} />
      </div>
      <div role="cell" className="nowrap">
        {ago === null ? t('common.never') : t('common.ago', { d: humanizeDuration(ago) })}
      </div>
      <div role="cell" className="nowrap">
        {ago === null ? '-' : humanizeDuration(target.lastScrapeDuration)}
      </div>
      <div role="cell" className="error-cell">
        {target.lastError ? (
          <>
            <div className="target-error" data-testid="target-error">
              {target.lastError}
            </div>
            {showAdvice && (
              <div className="advice">
                <strong>{t('targets.whatToCheck')}</strong> {t(scrapeErrorAdvice(target.lastError))}
              </div>
            )}
          </>
        ) : null}
      </div>
    </div>
  );
});

const Pool = memo(function Pool({
  name,
  targets,
  allTargets,
  open,
  onToggle,
  now,
  t,
}: {
  name: string;
  targets: ActiveTarget[];
  allTargets: ActiveTarget[];
  open: boolean;
  onToggle: (name: string) => void;
  now: number;
  t: Translate;
}) {
  const up = allTargets.filter((x) => x.health === 'up').length;
  const cls = up === allTargets.length ? 'badge-up' : up === 0 ? 'badge-down' : 'badge-warn';
  const failing = useMemo(() => targets.filter((x) => x.lastError !== ''), [targets]);
  const perRowAdvice = failing.length <= ROW_ADVICE_LIMIT;
  const adviceSummary = useMemo(() => {
    if (perRowAdvice) return [];
    const byAdvice = new Map<TextKey, { count: number; example: string }>();
    for (const x of failing) {
      const key = scrapeErrorAdvice(x.lastError);
      const cur = byAdvice.get(key);
      if (cur) cur.count++;
      else byAdvice.set(key, { count: 1, example: x.lastError });
    }
    return [...byAdvice.entries()].sort((a, b) => b[1].count - a[1].count);
  }, [failing, perRowAdvice]);
  return (
    <section className="card pool" data-testid="target-pool" data-pool={name}>
      <CollapseHeader open={open} onToggle={() => onToggle(name)}>
        <span className="pool-name">{name}</span>
        <span className={`badge ${cls}`}>{t('targets.poolCount', { up, total: allTargets.length })}</span>
      </CollapseHeader>
      {open && adviceSummary.length > 0 && (
        <div className="advice-summary">
          {adviceSummary.map(([key, { count, example }]) => (
            <div key={key} className="advice">
              <strong>{t('targets.adviceGroup', { n: count })}</strong> <span className="mono small">{example}</span>
              <div>
                <strong>{t('targets.whatToCheck')}</strong> {t(key)}
              </div>
            </div>
          ))}
        </div>
      )}
      {open && (
        <div className="table-scroll">
          <div role="table" className={targets.length > LAZY_PAINT_ROWS ? 'targets-table lazy-paint' : 'targets-table'}>
            <div role="row" className="target-grid-row target-grid-head">
              <div role="columnheader">{t('targets.endpoint')}</div>
              <div role="columnheader">{t('targets.state')}</div>
              <div role="columnheader">{t('targets.labels')}</div>
              <div role="columnheader">{t('targets.lastScrape')}</div>
              <div role="columnheader">{t('targets.duration')}</div>
              <div role="columnheader">{t('targets.error')}</div>
            </div>
            {targets.map((tg) => (
              <TargetRow
                key={tg.scrapeUrl + '\u0000' + JSON.stringify(tg.labels)}
                target={tg}
                now={now}
                showAdvice={perRowAdvice}
                t={t}
              />
            ))}
          </div>
        </div>
      )}
    </section>
  );
});

/** Status -> Targets: every scrape target by pool, with health, last scrape and what to fix. */
export function TargetsPage() {
  const t = useT();
  const state = useApi<TargetsData>('targets', { state: 'active' });
  const [text, setText] = useState('');
  const [health, setHealth] = useState<HealthFilter>('all');
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [autoRefresh, setAutoRefresh] = useState(false);
  const { reload } = state;
  // While someone fixes a target, the page follows it without a click.
  useEffect(() => {
    if (!autoRefresh) return;
    const id = window.setInterval(reload, AUTO_REFRESH_MS);
    return () => window.clearInterval(id);
  }, [autoRefresh, reload]);

  const targets = state.result?.data.activeTargets;
  const pools = useMemo(
    () =>
      groupBy(targets ?? [], (x) => x.scrapePool).map(([name, list]): [string, ActiveTarget[]] => [
        name,
        // Targets in trouble first: they are what a person opens this page for.
        [...list].sort((a, b) => (HEALTH_ORDER[a.health] ?? 1) - (HEALTH_ORDER[b.health] ?? 1)),
      ]),
    [targets],
  );
  const words = useMemo(() => text.toLowerCase().split(/\s+/).filter(Boolean), [text]);
  const visible = useMemo(
    () =>
      pools
        .map(([name, all]) => ({
          name,
          all,
          shown: all.filter((x) => (health === 'all' || x.health === health) && targetMatches(x, words)),
        }))
        .filter((p) => p.shown.length > 0),
    [pools, words, health],
  );
  const counts = useMemo(() => {
    const c = { up: 0, down: 0, unknown: 0 };
    for (const x of targets ?? []) c[x.health] = (c[x.health] ?? 0) + 1;
    return c;
  }, [targets]);
  const toggle = useMemo(
    () => (name: string) =>
      setCollapsed((s) => {
        const n = new Set(s);
        if (n.has(name)) n.delete(name);
        else n.add(name);
        return n;
      }),
    [],
  );

  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title" data-testid="page-title">
          {t('targets.title')}
        </h1>
        <div className="page-actions">
          <label className="filter-chip">
            <input type="checkbox" checked={autoRefresh} onChange={(e) => setAutoRefresh(e.target.checked)} />
            {t('targets.autoRefresh')}
          </label>
          <button type="button" className="btn" onClick={state.reload} disabled={state.loading}>
            ↻ {t('common.refresh')}
          </button>
        </div>
      </div>
      <div className="filters">
        <input
          className="input"
          data-testid="target-filter-text"
          placeholder={t('targets.filterText')}
          aria-label={t('targets.filterText')}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <select
          className="input"
          data-testid="target-filter-health"
          aria-label={t('targets.health')}
          value={health}
          onChange={(e) => setHealth(e.target.value as HealthFilter)}
        >
          <option value="all">{t('targets.healthAll')}</option>
          <option value="up">{t('targets.up')}</option>
          <option value="down">{t('targets.down')}</option>
          <option value="unknown">{t('targets.unknown')}</option>
        </select>
        <button type="button" className="btn" onClick={() => setCollapsed(new Set())}>
          {t('common.expandAll')}
        </button>
        <button type="button" className="btn" onClick={() => setCollapsed(new Set(pools.map(([n]) => n)))}>
          {t('common.collapseAll')}
        </button>
      </div>
      <RequestStatus state={state}>
        {() => (
          <>
            {(targets?.length ?? 0) === 0 ? (
              <div className="alert alert-info">{t('targets.none')}</div>
            ) : (
              <p className={counts.down > 0 ? 'summary summary-trouble' : 'summary'}>
                {t('targets.summary', { total: targets?.length ?? 0, pools: pools.length, ...counts })}{' '}
                {counts.down > 0 && <strong>{t('targets.summaryTrouble')}</strong>}
              </p>
            )}
            {(targets?.length ?? 0) > 0 && visible.length === 0 && <p className="muted">{t('common.noMatches')}</p>}
            {visible.map((p) => (
              <Pool
                key={p.name}
                name={p.name}
                targets={p.shown}
                allTargets={p.all}
                open={!collapsed.has(p.name)}
                onToggle={toggle}
                now={state.fetchedAt}
                t={t}
              />
            ))}
          </>
        )}
      </RequestStatus>
    </div>
  );
}

import { memo, useMemo, useState } from 'react';
import { LabelBadges } from '../components/LabelBadges';
import { RequestStatus } from '../components/RequestStatus';
import { formatDuration, humanizeDuration, secondsSince } from '../format';
import { useT, type Translate } from '../i18n';
import { useApi } from '../useApi';
import type { AlertingRule, RulesData } from './ruleTypes';

type AlertState = AlertingRule['state'];
const STATES: AlertState[] = ['firing', 'pending', 'inactive'];
const STATE_TEXT = { firing: 'alerts.firing', pending: 'alerts.pending', inactive: 'alerts.inactive' } as const;

const AlertRuleRow = memo(function AlertRuleRow({ rule, now, t }: { rule: AlertingRule; now: number; t: Translate }) {
  const [open, setOpen] = useState(rule.state !== 'inactive');
  const alerts = rule.alerts ?? [];
  return (
    <div className={`alert-rule state-${rule.state}`} data-testid="alert-rule" data-state={rule.state}>
      <button type="button" className="collapse-header" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        <span className={open ? 'chevron open' : 'chevron'} aria-hidden="true">
          ▸
        </span>
        <span className={`badge badge-${rule.state}`}>{t(STATE_TEXT[rule.state] ?? 'alerts.inactive')}</span>
        <span className="rule-name">{rule.name}</span>
        {alerts.length > 0 && <span className="muted small">{t('alerts.instances', { n: alerts.length })}</span>}
        {rule.health === 'err' && <span className="badge badge-down">{t('rules.err')}</span>}
      </button>
      {open && (
        <div className="alert-rule-body">
          <dl className="kv">
            <dt>{t('alerts.expr')}</dt>
            <dd>
              <pre className="mono code-block">{rule.query}</pre>
            </dd>
            {rule.duration ? (
              <>
                <dt>{t('alerts.for')}</dt>
                <dd>{formatDuration(rule.duration)}</dd>
              </>
            ) : null}
            {rule.keepFiringFor ? (
              <>
                <dt>{t('alerts.keepFiring')}</dt>
                <dd>{formatDuration(rule.keepFiringFor)}</dd>
              </>
            ) : null}
            {rule.labels && Object.keys(rule.labels).length > 0 && (
              <>
                <dt>{t('common.labels')}</dt>
                <dd>
                  <LabelBadges labels={rule.labels} />
                </dd>
              </>
            )}
            {rule.annotations && Object.keys(rule.annotations).length > 0 && (
              <>
                <dt>{t('alerts.annotations')}</dt>
                <dd>
                  <AnnotationList annotations={rule.annotations} />
                </dd>
              </>
            )}
            {rule.lastError && (
              <>
                <dt>{t('common.error')}</dt>
                <dd className="text-danger">{rule.lastError}</dd>
              </>
            )}
          </dl>
          {alerts.length > 0 && (
            <div className="table-scroll">
              <table className="data-table">
                <thead>
                  <tr>
                    <th>{t('common.labels')}</th>
                    <th>{t('alerts.state')}</th>
                    <th>{t('alerts.activeSince')}</th>
                    <th className="num">{t('alerts.value')}</th>
                    <th>{t('alerts.annotations')}</th>
                  </tr>
                </thead>
                <tbody>
                  {alerts.map((a, i) => {
                    const since = secondsSince(a.activeAt, now);
                    return (
                      <tr key={i}>
                        <td>
                          <LabelBadges labels={a.labels} />
                        </td>
                        <td>
                          <span className={`badge badge-${a.state}`}>
                            {t(STATE_TEXT[a.state] ?? 'alerts.inactive')}
                          </span>
                        </td>
                        <td className="nowrap" title={a.activeAt}>
                          {since === null ? '-' : t('common.ago', { d: humanizeDuration(since) })}
                        </td>
                        <td className="num">{a.value}</td>
                        <td>
                          <AnnotationList annotations={a.annotations} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </div>
  );
});

function AnnotationList({ annotations }: { annotations: Record<string, string> }) {
  const keys = Object.keys(annotations).sort();
  if (keys.length === 0) return <span className="muted">-</span>;
  return (
    <dl className="annotations">
      {keys.map((k) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{annotations[k]}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Alerts: alerting rules by group, filterable by state, each with its active alerts. */
export function AlertsPage() {
  const t = useT();
  const state = useApi<RulesData>('rules', { type: 'alert' });
  const [shown, setShown] = useState<Set<AlertState>>(new Set(STATES));
  const [text, setText] = useState('');
  const groups = state.result?.data.groups;
  const counts = useMemo(() => {
    const c: Record<AlertState, number> = { firing: 0, pending: 0, inactive: 0 };
    for (const g of groups ?? [])
      for (const r of g.rules) if (r.type === 'alerting') c[r.state] = (c[r.state] ?? 0) + 1;
    return c;
  }, [groups]);
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = (r: AlertingRule) => {
    if (!shown.has(r.state)) return false;
    if (words.length === 0) return true;
    const hay = (
      r.name +
      ' ' +
      JSON.stringify(r.labels ?? {}) +
      ' ' +
      (r.alerts ?? []).map((a) => JSON.stringify(a.labels)).join(' ')
    ).toLowerCase();
    return words.every((w) => hay.includes(w));
  };
  const total = counts.firing + counts.pending + counts.inactive;
  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title" data-testid="page-title">
          {t('alerts.title')}
        </h1>
        <button type="button" className="btn" onClick={state.reload} disabled={state.loading}>
          ↻ {t('common.refresh')}
        </button>
      </div>
      <div className="filters">
        {STATES.map((s) => (
          <label key={s} className={`filter-chip chip-${s}`}>
            <input
              type="checkbox"
              data-testid={`alert-filter-${s}`}
              checked={shown.has(s)}
              onChange={() =>
                setShown((cur) => {
                  const n = new Set(cur);
                  if (n.has(s)) n.delete(s);
                  else n.add(s);
                  return n;
                })
              }
            />
            {t(STATE_TEXT[s])} ({counts[s]})
          </label>
        ))}
        <input
          className="input"
          placeholder={t('alerts.filterText')}
          aria-label={t('alerts.filterText')}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </div>
      <RequestStatus state={state}>
        {() =>
          total === 0 ? (
            <div className="alert alert-info">{t('alerts.none')}</div>
          ) : (
            (groups ?? []).map((g) => {
              const rules = g.rules.filter((r): r is AlertingRule => r.type === 'alerting').filter(matches);
              if (rules.length === 0) return null;
              return (
                <section key={g.file + '\u0000' + g.name} className="card">
                  <h2 className="group-title">
                    {g.name} <span className="muted small mono">{g.file}</span>
                  </h2>
                  {rules.map((r) => (
                    <AlertRuleRow key={r.name + JSON.stringify(r.labels ?? {})} rule={r} now={state.fetchedAt} t={t} />
                  ))}
                </section>
              );
            })
          )
        }
      </RequestStatus>
    </div>
  );
}

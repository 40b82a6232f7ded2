import { RequestStatus } from '../components/RequestStatus';
import { LabelBadges } from '../components/LabelBadges';
import { formatDuration, humanizeDuration, secondsSince } from '../format';
import { useT } from '../i18n';
import { useApi } from '../useApi';
import type { RulesData } from './ruleTypes';

const HEALTH_TEXT = { ok: 'rules.ok', err: 'rules.err', unknown: 'rules.unknown' } as const;

/** Rules: every rule group with its evaluation health, and each rule's query and last error. */
export function RulesPage() {
  const t = useT();
  const state = useApi<RulesData>('rules');
  const ago = (ts: string | undefined) => {
    const s = secondsSince(ts, state.fetchedAt);
    return s === null ? t('common.never') : t('common.ago', { d: humanizeDuration(s) });
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title" data-testid="page-title">
          {t('rules.title')}
        </h1>
        <button type="button" className="btn" onClick={state.reload} disabled={state.loading}>
          ↻ {t('common.refresh')}
        </button>
      </div>
      <RequestStatus state={state}>
        {(data) =>
          (data.groups ?? []).length === 0 ? (
            <div className="alert alert-info">{t('rules.none')}</div>
          ) : (
            (data.groups ?? []).map((g) => {
              const bad = g.rules.filter((r) => r.health === 'err').length;
              return (
                <section
                  key={g.file + '\u0000' + g.name}
                  className="card rule-group"
                  data-testid="rule-group"
                  data-group={g.name}
                >
                  <div className="group-head">
                    <h2 className="group-title">
                      {g.name}{' '}
                      {bad > 0 && (
                        <span className="badge badge-down">
                          {t('rules.err')} × {bad}
                        </span>
                      )}
                    </h2>
                    <dl className="inline-kv small">
                      <dt>{t('rules.file')}</dt>
                      <dd className="mono">{g.file}</dd>
                      {g.interval !== undefined && (
                        <>
                          <dt>{t('rules.interval')}</dt>
                          <dd>{formatDuration(g.interval)}</dd>
                        </>
                      )}
                      <dt>{t('rules.lastEval')}</dt>
                      <dd>{ago(g.lastEvaluation)}</dd>
                      <dt>{t('rules.evalDuration')}</dt>
                      <dd>{g.evaluationTime !== undefined ? humanizeDuration(g.evaluationTime) : '-'}</dd>
                    </dl>
                  </div>
                  <div className="table-scroll">
                    <table className="data-table">
                      <thead>
                        <tr>
                          <th>{t('rules.rule')}</th>
                          <th>{t('rules.health')}</th>
                          <th>{t('rules.lastEval')}</th>
                          <th className="num">{t('rules.evalDuration')}</th>
                        </tr>
                      </thead>
                      <tbody>
                        {g.rules.map((r, i) => (
                          <tr key={i} className={r.health === 'err' ? 'row-down' : undefined}>
                            <td className="rule-def">
                              <div>
                                <span className="badge badge-neutral">
                                  {r.type === 'alerting' ? t('rules.alerting') : t('rules.recording')}
                                </span>{' '}
                                <strong className="mono">{r.name}</strong>
                              </div>
                              <pre className="mono code-block">{r.query}</pre>
                              {r.labels && Object.keys(r.labels).length > 0 && <LabelBadges labels={r.labels} />}
                              {r.lastError && (
                                <div className="target-error">
                                  {t('common.error')}: {r.lastError}
                                </div>
                              )}
                            </td>
                            <td>
                              <span className={`badge badge-health-${r.health}`}>
                                {t(HEALTH_TEXT[r.health] ?? 'rules.unknown')}
                              </span>
                            </td>
                            <td className="nowrap">{ago(r.lastEvaluation)}</td>
                            <td className="nowrap num">
                              {r.evaluationTime !== undefined ? humanizeDuration(r.evaluationTime) : '-'}
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </section>
              );
            })
          )
        }
      </RequestStatus>
    </div>
  );
}

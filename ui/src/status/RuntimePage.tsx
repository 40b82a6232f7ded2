import { KeyValueTable, displayValue } from '../components/KeyValueTable';
import { RequestStatus } from '../components/RequestStatus';
import { formatTime } from '../format';
import { TABLES, useT, type TextKey, type Translate } from '../i18n';
import { useApi } from '../useApi';

interface AlertmanagersData {
  activeAlertmanagers?: Array<{ url: string }>;
  droppedAlertmanagers?: Array<{ url: string }>;
}

/** Names known fields in words; fields this UI does not know keep their API name. */
function fieldName(t: Translate, group: 'runtime' | 'build', key: string): string {
  const k = `${group}.${key}`;
  return k in TABLES.en ? t(k as TextKey) : key;
}

/**
 * Fields Prometheus fills from the Go runtime (and build fields a build may lack): a server that
 * has no value for them answers "" or 0, and a row of nothing only looks broken, so it is left out.
 */
function hasValue(key: string, v: unknown): boolean {
  if (v === '' || v === null || v === undefined) return false;
  return !(v === 0 && (key === 'goroutineCount' || key === 'GOMEMLIMIT'));
}

/** Shows RFC 3339 times as UTC times and the reload flag in words. */
function fieldValue(t: Translate, key: string, v: unknown): string {
  if (key === 'reloadConfigSuccess' && typeof v === 'boolean') {
    return v ? t('runtime.successful') : t('runtime.unsuccessful');
  }
  if ((key === 'startTime' || key === 'lastConfigTime') && typeof v === 'string') {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return `${formatTime(ms / 1000)} UTC`;
  }
  return displayValue(v);
}

/** Status -> Runtime & build information: one panel per API call. */
export function RuntimePage() {
  const t = useT();
  const runtime = useApi<Record<string, unknown>>('status/runtimeinfo');
  const build = useApi<Record<string, unknown>>('status/buildinfo');
  const ams = useApi<AlertmanagersData>('alertmanagers');
  return (
    <div className="page">
      <h1 className="page-title" data-testid="page-title">
        {t('status.title')}
      </h1>
      <section className="card">
        <h2>{t('status.runtime')}</h2>
        <RequestStatus state={runtime}>
          {(d) => (
            <KeyValueTable
              rows={Object.entries(d)
                .filter(([k, v]) => hasValue(k, v))
                .map(([k, v]) => [fieldName(t, 'runtime', k), fieldValue(t, k, v)])}
              // A failed reload means the server still runs the previous configuration.
              bad={
                d.reloadConfigSuccess === false ? new Set([fieldName(t, 'runtime', 'reloadConfigSuccess')]) : undefined
              }
            />
          )}
        </RequestStatus>
      </section>
      <section className="card">
        <h2>{t('status.build')}</h2>
        <RequestStatus state={build}>
          {(d) => (
            <KeyValueTable
              rows={Object.entries(d)
                .filter(([k, v]) => hasValue(k, v))
                .map(([k, v]) => [fieldName(t, 'build', k), displayValue(v)])}
            />
          )}
        </RequestStatus>
      </section>
      <section className="card">
        <h2>{t('status.alertmanagers')}</h2>
        <RequestStatus state={ams}>
          {(d) => {
            const rows: Array<[string, string]> = [
              ...(d.activeAlertmanagers ?? []).map((a): [string, string] => [a.url, t('status.amActive')]),
              ...(d.droppedAlertmanagers ?? []).map((a): [string, string] => [a.url, t('status.amDropped')]),
            ];
            return rows.length === 0 ? <p className="muted">{t('status.amNone')}</p> : <KeyValueTable rows={rows} />;
          }}
        </RequestStatus>
      </section>
    </div>
  );
}

import { useState } from 'react';
import { RequestStatus } from '../components/RequestStatus';
import { useT } from '../i18n';
import { useApi } from '../useApi';

/** Status -> Command-line flags: every flag and its value, filterable. */
export function FlagsPage() {
  const t = useT();
  const state = useApi<Record<string, string>>('status/flags');
  const [filter, setFilter] = useState('');
  const f = filter.toLowerCase();
  return (
    <div className="page">
      <h1 className="page-title" data-testid="page-title">
        {t('flags.title')}
      </h1>
      <div className="filters">
        <input
          className="input wide"
          data-testid="flags-filter"
          placeholder={t('flags.filter')}
          aria-label={t('flags.filter')}
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      </div>
      <RequestStatus state={state}>
        {(d) => {
          const rows = Object.entries(d)
            .filter(([k, v]) => k.toLowerCase().includes(f) || v.toLowerCase().includes(f))
            .sort((a, b) => a[0].localeCompare(b[0]));
          return rows.length === 0 ? (
            <p className="muted">{t('common.noMatches')}</p>
          ) : (
            <div className="card table-scroll">
              <table className="data-table kv-table">
                <thead>
                  <tr>
                    <th>{t('flags.flag')}</th>
                    <th>{t('common.value')}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row" className="mono">
                        --{k}
                      </th>
                      <td className="mono">{v}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          );
        }}
      </RequestStatus>
    </div>
  );
}

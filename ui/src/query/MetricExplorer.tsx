import { useEffect, useMemo, useRef, useState } from 'react';
import { useT } from '../i18n';
import { useApi } from '../useApi';
import { RequestStatus } from '../components/RequestStatus';

/** At most this many names are listed at once; the filter narrows the rest. */
const MAX_LISTED = 500;

/** A dialog listing the metric names the server knows, filterable, to pick one for the editor. */
export function MetricExplorer({ onPick, onClose }: { onPick: (name: string) => void; onClose: () => void }) {
  const t = useT();
  const state = useApi<string[]>('label/__name__/values');
  const [filter, setFilter] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  const words = useMemo(() => filter.toLowerCase().split(/\s+/).filter(Boolean), [filter]);
  return (
    <div className="modal-backdrop" onMouseDown={onClose}>
      <div
        className="modal"
        role="dialog"
        aria-label={t('query.metricsTitle')}
        onMouseDown={(e) => e.stopPropagation()}
      >
        <div className="modal-head">
          <h3>{t('query.metricsTitle')}</h3>
          <button type="button" className="btn btn-icon" onClick={onClose} aria-label={t('common.close')}>
            ✕
          </button>
        </div>
        <input
          ref={input}
          className="input modal-filter"
          placeholder={t('query.metricsFilter')}
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <div className="modal-body">
          <RequestStatus state={state}>
            {(names) => {
              const matching = names.filter((n) => words.every((w) => n.toLowerCase().includes(w)));
              if (matching.length === 0) return <p className="muted">{t('query.metricsNone')}</p>;
              return (
                <ul className="metric-list">
                  {matching.slice(0, MAX_LISTED).map((n) => (
                    <li key={n}>
                      <button type="button" className="dropdown-item mono" onClick={() => onPick(n)}>
                        {n}
                      </button>
                    </li>
                  ))}
                </ul>
              );
            }}
          </RequestStatus>
        </div>
      </div>
    </div>
  );
}

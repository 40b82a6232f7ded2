import { useCallback, useEffect, useState } from 'react';
import { useT } from '../i18n';
import { replaceSearch, useLocation } from '../router';
import { newPanel, panelsFromSearch, panelsToSearch, type PanelState } from './panelState';
import { QueryPanel } from './QueryPanel';

/** The query page: any number of query panels, their state mirrored in the URL. */
export function QueryPage() {
  const t = useT();
  const [panels, setPanels] = useState<PanelState[]>(() => panelsFromSearch(window.location.search));

  // Also rewritten when the location changes under the page (a click on the Query link drops the
  // query string), so the address always reproduces what is on screen.
  const { search } = useLocation();
  useEffect(() => {
    replaceSearch(panelsToSearch(panels));
  }, [panels, search]);

  const change = useCallback((id: number, patch: Partial<PanelState>) => {
    setPanels((ps) => ps.map((p) => (p.id === id ? { ...p, ...patch } : p)));
  }, []);
  const remove = useCallback((id: number) => {
    setPanels((ps) => (ps.length > 1 ? ps.filter((p) => p.id !== id) : ps));
  }, []);

  return (
    <div className="page query-page">
      <h1 className="page-title" data-testid="page-title">
        {t('query.title')}
      </h1>
      {panels.map((p) => (
        <QueryPanel key={p.id} panel={p} onChange={change} onRemove={panels.length > 1 ? remove : null} />
      ))}
      <button
        type="button"
        className="btn"
        data-testid="add-panel"
        onClick={() => setPanels((ps) => [...ps, newPanel()])}
      >
        + {t('query.addPanel')}
      </button>
    </div>
  );
}

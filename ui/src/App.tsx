import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { checkHealth, onReachabilityChange } from './api';
import { I18nContext, translate, useT, type Lang, type TextKey } from './i18n';
import { routePrefix, serverUrl } from './routePrefix';
import { Link, navigate, useLocation } from './router';
import { loadLang, loadTheme, saveLang, saveTheme, type Theme } from './settings';
import { TargetsPage } from './status/TargetsPage';
import { ServiceDiscoveryPage } from './status/ServiceDiscoveryPage';
import { AlertsPage } from './status/AlertsPage';
import { RulesPage } from './status/RulesPage';
import { RuntimePage } from './status/RuntimePage';
import { TsdbStatusPage } from './status/TsdbStatusPage';
import { ConfigPage } from './status/ConfigPage';
import { ThemeContext } from './themeContext';
import { PageErrorBoundary } from './components/PageErrorBoundary';
import { FlagsPage } from './status/FlagsPage';

// The query page carries CodeMirror and uPlot, most of the bundle; loading it on demand lets the
// status pages (the targets page above all) start sooner.
const QueryPage = lazy(() => import('./query/QueryPage').then((m) => ({ default: m.QueryPage })));

/** A page of the app: its path, nav test id and title. */
interface PageDef {
  path: string;
  testId: string;
  title: TextKey;
}

const TOP_PAGES: PageDef[] = [
  { path: '/query', testId: 'nav-query', title: 'nav.query' },
  { path: '/alerts', testId: 'nav-alerts', title: 'nav.alerts' },
  { path: '/targets', testId: 'nav-targets', title: 'nav.targets' },
  { path: '/rules', testId: 'nav-rules', title: 'nav.rules' },
];

const STATUS_PAGES: PageDef[] = [
  { path: '/service-discovery', testId: 'nav-service-discovery', title: 'nav.serviceDiscovery' },
  { path: '/status', testId: 'nav-status', title: 'nav.runtime' },
  { path: '/tsdb-status', testId: 'nav-tsdb-status', title: 'nav.tsdb' },
  { path: '/config', testId: 'nav-config', title: 'nav.config' },
  { path: '/flags', testId: 'nav-flags', title: 'nav.flags' },
];

const ALL_PAGES = [...TOP_PAGES, ...STATUS_PAGES];

/** How often the unreachable banner re-checks the server, in ms. */
const HEALTH_INTERVAL_MS = 5000;

function UnreachableBanner() {
  const t = useT();
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => onReachabilityChange(setProblem), []);
  useEffect(() => {
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') void checkHealth();
    }, HEALTH_INTERVAL_MS);
    return () => window.clearInterval(id);
  }, []);
  if (problem === null) return null;
  return (
    <div className="banner banner-error" data-testid="server-unreachable" role="alert">
      <strong>{t('unreachable.title', { url: serverUrl(), error: problem })}</strong>{' '}
      <span>{t('unreachable.hint')}</span>
    </div>
  );
}

function StatusMenu({ path, onNavigate }: { path: string; onNavigate: () => void }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  const active = STATUS_PAGES.some((p) => p.path === path);
  return (
    <div className="nav-menu" ref={ref}>
      <button
        type="button"
        className={active ? 'nav-link active' : 'nav-link'}
        data-testid="nav-status-menu"
        aria-haspopup="true"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
      >
        {t('nav.status')} ▾
      </button>
      {open && (
        <div className="nav-menu-items" role="menu">
          {STATUS_PAGES.map((p) => (
            <Link
              key={p.path}
              to={p.path}
              role="menuitem"
              data-testid={p.testId}
              className={p.path === path ? 'active' : undefined}
              onClick={() => {
                setOpen(false);
                onNavigate();
              }}
            >
              {t(p.title)}
            </Link>
          ))}
        </div>
      )}
    </div>
  );
}

function LoadingText() {
  const t = useT();
  return <p className="muted loading">{t('common.loading')}</p>;
}

function Page({ path }: { path: string }) {
  switch (path) {
    case '/alerts':
      return <AlertsPage />;
    case '/rules':
      return <RulesPage />;
    case '/targets':
      return <TargetsPage />;
    case '/service-discovery':
      return <ServiceDiscoveryPage />;
    case '/status':
      return <RuntimePage />;
    case '/tsdb-status':
      return <TsdbStatusPage />;
    case '/config':
      return <ConfigPage />;
    case '/flags':
      return <FlagsPage />;
    default:
      return (
        <Suspense fallback={<LoadingText />}>
          <QueryPage />
        </Suspense>
      );
  }
}

/** The whole app: top bar, unreachable banner and the current page. */
export function App() {
  const [lang, setLang] = useState<Lang>(loadLang);
  const [theme, setTheme] = useState<Theme>(loadTheme);
  const [navOpen, setNavOpen] = useState(false);
  const { path, search } = useLocation();

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    saveTheme(theme);
  }, [theme]);
  useEffect(() => {
    document.documentElement.lang = lang;
    saveLang(lang);
  }, [lang]);

  // "/" and the Prometheus 2 "/graph" path open the query page, keeping the query string so
  // links from alert generator URLs keep their expression.
  const known = ALL_PAGES.some((p) => p.path === path);
  useEffect(() => {
    if (!known) navigate('/query' + search, true);
  }, [known, search]);

  const i18n = useMemo(
    () => ({ lang, t: (key: TextKey, vars?: Record<string, string | number>) => translate(lang, key, vars) }),
    [lang],
  );
  const t = i18n.t;
  const closeNav = useCallback(() => setNavOpen(false), []);

  useEffect(() => {
    const page = ALL_PAGES.find((p) => p.path === path);
    document.title = page ? `${t(page.title)} - Pharos` : 'Pharos';
  }, [path, t]);

  return (
    <I18nContext.Provider value={i18n}>
      <ThemeContext.Provider value={theme}>
        <header className="topbar">
          <Link to="/query" className="brand" aria-label="Pharos">
            <img src={`${routePrefix}/favicon.svg`} alt="" width="22" height="22" />
            <span>{t('app.name')}</span>
          </Link>
          <button
            type="button"
            className="nav-toggle"
            aria-label={t('nav.menu')}
            aria-expanded={navOpen}
            data-testid="nav-toggle"
            onClick={() => setNavOpen((o) => !o)}
          >
            ☰
          </button>
          <nav className={navOpen ? 'nav open' : 'nav'}>
            {TOP_PAGES.map((p) => (
              <Link
                key={p.path}
                to={p.path}
                data-testid={p.testId}
                className={p.path === path ? 'nav-link active' : 'nav-link'}
                onClick={closeNav}
              >
                {t(p.title)}
              </Link>
            ))}
            <StatusMenu path={path} onNavigate={closeNav} />
            <div className="nav-spacer" />
            <label className="lang-select">
              <span className="visually-hidden">{t('lang.label')}</span>
              <select
                data-testid="language-select"
                value={lang}
                onChange={(e) => setLang(e.target.value === 'ko' ? 'ko' : 'en')}
              >
                <option value="en">English</option>
                <option value="ko">한국어</option>
              </select>
            </label>
            <button
              type="button"
              className="theme-toggle"
              data-testid="theme-toggle"
              title={theme === 'dark' ? t('theme.toLight') : t('theme.toDark')}
              aria-label={theme === 'dark' ? t('theme.toLight') : t('theme.toDark')}
              onClick={() => setTheme((th) => (th === 'dark' ? 'light' : 'dark'))}
            >
              {theme === 'dark' ? '☀' : '☾'}
            </button>
          </nav>
        </header>
        <UnreachableBanner />
        <main className="main">
          {known ? (
            <PageErrorBoundary
              key={path}
              message={(e) => t('common.pageFailed', { message: e.message })}
              reloadLabel={t('common.reload')}
            >
              <Page path={path} />
            </PageErrorBoundary>
          ) : null}
        </main>
      </ThemeContext.Provider>
    </I18nContext.Provider>
  );
}

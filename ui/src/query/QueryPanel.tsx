import { memo, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { apiGet, ApiError, UnreachableError } from '../api';
import { formatDuration, formatTime, parseDuration, parseTime } from '../format';
import { useT } from '../i18n';
import { ThemeContext } from '../themeContext';
import { CommitInput } from '../components/CommitInput';
import { Graph } from './Graph';
import { MetricExplorer } from './MetricExplorer';
import { autoStep, stepRange, type PanelState } from './panelState';
import { PromqlEditor } from './PromqlEditor';
import { clearHistory, loadHistory, rememberQuery } from './queryHistory';
import { resultSeriesCount, type QueryData } from './queryResult';
import { ResultTable } from './ResultTable';
import { parseErrorPosition } from './errorPosition';

/** What the last run of a panel produced. */
interface RunOutcome {
  data: QueryData | null;
  error: { type: string; message: string } | null;
  /** The expression that was run, to point at a parse error in it. */
  expr: string;
  warnings: string[];
  infos: string[];
  loadMs: number;
  /** The range parameters of a graph run, for drawing. */
  range: { start: number; end: number; step: number } | null;
}

/** The time inputs of a panel, parsed; `problem` names the first one that does not parse. */
function parseInputs(p: PanelState) {
  const range = parseDuration(p.rangeInput);
  const end = p.endInput.trim() === '' ? null : parseTime(p.endInput);
  const moment = p.momentInput.trim() === '' ? null : parseTime(p.momentInput);
  const stepText = p.stepInput.trim();
  const step = stepText === '' ? null : /^\d+(\.\d+)?$/.test(stepText) ? Number(stepText) : parseDuration(stepText);
  let problem: { key: 'query.badRange' | 'query.badTime' | 'query.badStep'; v: string } | null = null;
  if (range === null || range <= 0) problem = { key: 'query.badRange', v: p.rangeInput };
  else if (p.endInput.trim() !== '' && end === null) problem = { key: 'query.badTime', v: p.endInput };
  else if (p.momentInput.trim() !== '' && moment === null) problem = { key: 'query.badTime', v: p.momentInput };
  else if (stepText !== '' && (step === null || step <= 0)) problem = { key: 'query.badStep', v: p.stepInput };
  return { range: range ?? 3600, end, moment, step, problem };
}

function toErrorInfo(e: unknown): { type: string; message: string } {
  if (e instanceof ApiError) return { type: e.errorType, message: e.message };
  if (e instanceof UnreachableError) return { type: 'unreachable', message: e.message };
  return { type: 'error', message: e instanceof Error ? e.message : String(e) };
}

/** The expression line a parse error names, with a caret under the column. */
function ErrorCaret({ message, expr }: { message: string; expr: string }) {
  const pos = parseErrorPosition(message, expr);
  if (!pos) return null;
  return (
    <pre className="error-caret" aria-hidden="true">
      {pos.text}
      {'\n'}
      {' '.repeat(pos.column - 1)}^
    </pre>
  );
}

/** One query panel: editor, options, and the table or graph of its result. */
export const QueryPanel = memo(function QueryPanel({
  panel,
  onChange,
  onRemove,
}: {
  panel: PanelState;
  onChange: (id: number, patch: Partial<PanelState>) => void;
  onRemove: ((id: number) => void) | null;
}) {
  const t = useT();
  const theme = useContext(ThemeContext);
  const [submitted, setSubmitted] = useState<{ expr: string; nonce: number } | null>(
    panel.expr.trim() ? { expr: panel.expr, nonce: 0 } : null,
  );
  const [outcome, setOutcome] = useState<RunOutcome | null>(null);
  const [loading, setLoading] = useState(false);
  const [history, setHistory] = useState<string[]>(loadHistory);
  const [showHistory, setShowHistory] = useState(false);
  const [showExplorer, setShowExplorer] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const update = useCallback((patch: Partial<PanelState>) => onChange(panel.id, patch), [onChange, panel.id]);
  const historyRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!showHistory) return;
    const close = (e: MouseEvent) => {
      if (historyRef.current && !historyRef.current.contains(e.target as Node)) setShowHistory(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [showHistory]);
  const exprRef = useRef(panel.expr);
  exprRef.current = panel.expr;

  const inputs = parseInputs(panel);

  const execute = useCallback(() => {
    const expr = exprRef.current;
    if (expr.trim() === '') {
      setNotice(t('query.exprEmpty'));
      return;
    }
    setNotice(null);
    setHistory(rememberQuery(expr));
    setSubmitted((s) => ({ expr, nonce: (s?.nonce ?? 0) + 1 }));
  }, [t]);

  // Runs the submitted expression; also re-runs when the view or its time settings change,
  // as Prometheus does. Exactly one request per run.
  useEffect(() => {
    if (!submitted || inputs.problem) return;
    const ctl = new AbortController();
    const began = performance.now();
    setLoading(true);
    let request: Promise<{ data: QueryData; warnings?: string[]; infos?: string[] }>;
    let range: RunOutcome['range'] = null;
    if (panel.tab === 'table') {
      const time = inputs.moment ?? Date.now() / 1000;
      request = apiGet<QueryData>('query', { query: submitted.expr, time: String(time) }, ctl.signal);
    } else {
      const end = inputs.end ?? Math.floor(Date.now() / 1000);
      const start = end - inputs.range;
      const step = inputs.step ?? autoStep(inputs.range);
      range = { start, end, step };
      request = apiGet<QueryData>(
        'query_range',
        { query: submitted.expr, start: String(start), end: String(end), step: String(step) },
        ctl.signal,
      );
    }
    request
      .then((r) =>
        setOutcome({
          data: r.data,
          error: null,
          expr: submitted.expr,
          warnings: r.warnings ?? [],
          infos: r.infos ?? [],
          loadMs: Math.round(performance.now() - began),
          range,
        }),
      )
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        setOutcome({
          data: null,
          error: toErrorInfo(e),
          expr: submitted.expr,
          warnings: [],
          infos: [],
          loadMs: Math.round(performance.now() - began),
          range,
        });
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoading(false);
      });
    return () => ctl.abort();
  }, [submitted, panel.tab, inputs.range, inputs.end, inputs.moment, inputs.step, inputs.problem]);

  const format = async () => {
    if (panel.expr.trim() === '') return;
    try {
      const r = await apiGet<string>('format_query', { query: panel.expr });
      update({ expr: r.data });
    } catch (e) {
      setOutcome({
        data: null,
        error: toErrorInfo(e),
        expr: panel.expr,
        warnings: [],
        infos: [],
        loadMs: 0,
        range: null,
      });
    }
  };

  const zoom = useCallback(
    (start: number, end: number) => {
      if (end - start < 1) return;
      update({ rangeInput: formatDuration(end - start), endInput: formatTime(end) });
    },
    [update],
  );

  const shiftEnd = (dir: -1 | 1) => {
    const end = inputs.end ?? Math.floor(Date.now() / 1000);
    update({ endInput: formatTime(end + (dir * inputs.range) / 2) });
  };

  const data = outcome?.data ?? null;
  const seriesCount = data ? resultSeriesCount(data) : 0;
  const isEmpty =
    data !== null && (data.resultType === 'vector' || data.resultType === 'matrix') && data.result.length === 0;

  return (
    <section className="card query-panel" data-testid="query-panel">
      <div className="editor-row">
        <PromqlEditor
          value={panel.expr}
          onChange={(v) => update({ expr: v })}
          onExecute={execute}
          placeholder={t('query.placeholder')}
        />
        <div className="editor-actions">
          <button
            type="button"
            className="btn btn-primary"
            data-testid="execute-button"
            onClick={execute}
            disabled={loading}
          >
            {t('query.execute')}
          </button>
          <div className="menu-anchor" ref={historyRef}>
            <button type="button" className="btn" onClick={() => setShowHistory((s) => !s)} aria-expanded={showHistory}>
              {t('query.history')} ▾
            </button>
            {showHistory && (
              <div className="dropdown history-list">
                {history.length === 0 && <div className="muted pad">{t('query.historyEmpty')}</div>}
                {history.map((h) => (
                  <button
                    type="button"
                    key={h}
                    className="dropdown-item mono"
                    onClick={() => {
                      update({ expr: h });
                      setShowHistory(false);
                    }}
                  >
                    {h}
                  </button>
                ))}
                {history.length > 0 && (
                  <button
                    type="button"
                    className="dropdown-item danger"
                    onClick={() => {
                      clearHistory();
                      setHistory([]);
                    }}
                  >
                    {t('query.historyClear')}
                  </button>
                )}
              </div>
            )}
          </div>
          <button type="button" className="btn" onClick={() => setShowExplorer(true)} title={t('query.metricsTitle')}>
            {t('query.metrics')}
          </button>
          <button type="button" className="btn" onClick={format} title={t('query.formatTitle')}>
            {t('query.format')}
          </button>
          {onRemove && (
            <button
              type="button"
              className="btn btn-icon"
              onClick={() => onRemove(panel.id)}
              title={t('query.removePanel')}
              aria-label={t('query.removePanel')}
            >
              ✕
            </button>
          )}
        </div>
      </div>

      <div className="panel-toolbar">
        <div className="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={panel.tab === 'table'}
            className={panel.tab === 'table' ? 'tab active' : 'tab'}
            data-testid="tab-table"
            onClick={() => update({ tab: 'table' })}
          >
            {t('query.table')}
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={panel.tab === 'graph'}
            className={panel.tab === 'graph' ? 'tab active' : 'tab'}
            data-testid="tab-graph"
            onClick={() => update({ tab: 'graph' })}
          >
            {t('query.graph')}
          </button>
        </div>
        {panel.tab === 'table' ? (
          <div className="time-controls">
            <label>
              {t('query.evalTime')}{' '}
              <CommitInput
                className="input time-input"
                value={panel.momentInput}
                placeholder={t('query.now')}
                onCommit={(v) => update({ momentInput: v })}
              />
            </label>
            {panel.momentInput && (
              <button type="button" className="btn btn-small" onClick={() => update({ momentInput: '' })}>
                {t('query.now')}
              </button>
            )}
          </div>
        ) : (
          <div className="time-controls">
            <span className="control-group">
              <button
                type="button"
                className="btn btn-small"
                title={t('query.rangeShorter')}
                aria-label={t('query.rangeShorter')}
                onClick={() => update({ rangeInput: formatDuration(stepRange(inputs.range, -1)) })}
              >
                −
              </button>
              <CommitInput
                className="input range-input"
                aria-label={t('query.range')}
                title={t('query.range')}
                value={panel.rangeInput}
                onCommit={(v) => update({ rangeInput: v })}
              />
              <button
                type="button"
                className="btn btn-small"
                title={t('query.rangeLonger')}
                aria-label={t('query.rangeLonger')}
                onClick={() => update({ rangeInput: formatDuration(stepRange(inputs.range, 1)) })}
              >
                +
              </button>
            </span>
            <span className="control-group">
              <button
                type="button"
                className="btn btn-small"
                title={t('query.earlier')}
                aria-label={t('query.earlier')}
                onClick={() => shiftEnd(-1)}
              >
                ‹
              </button>
              <CommitInput
                className="input time-input"
                aria-label={t('query.end')}
                title={t('query.end')}
                value={panel.endInput}
                placeholder={`${t('query.end')}: ${t('query.now')}`}
                onCommit={(v) => update({ endInput: v })}
              />
              <button
                type="button"
                className="btn btn-small"
                title={t('query.later')}
                aria-label={t('query.later')}
                onClick={() => shiftEnd(1)}
              >
                ›
              </button>
              {panel.endInput && (
                <button type="button" className="btn btn-small" onClick={() => update({ endInput: '' })}>
                  {t('query.now')}
                </button>
              )}
            </span>
            <label className="control-group">
              {t('query.step')}{' '}
              <CommitInput
                className="input step-input"
                value={panel.stepInput}
                placeholder={t('query.stepAuto', { s: formatDuration(autoStep(inputs.range)) })}
                onCommit={(v) => update({ stepInput: v })}
              />
            </label>
            <span className="segmented">
              <button
                type="button"
                className={!panel.stacked ? 'active' : ''}
                onClick={() => update({ stacked: false })}
              >
                {t('query.lines')}
              </button>
              <button type="button" className={panel.stacked ? 'active' : ''} onClick={() => update({ stacked: true })}>
                {t('query.stacked')}
              </button>
            </span>
          </div>
        )}
      </div>

      {inputs.problem && <div className="alert alert-warn">{t(inputs.problem.key, { v: inputs.problem.v })}</div>}
      {notice && <div className="alert alert-info">{notice}</div>}

      <div className="panel-body">
        {loading && <div className="muted loading">{t('query.running')}</div>}
        {!outcome && !loading && <p className="muted placeholder-text">{t('query.idle')}</p>}
        {outcome?.error && (
          <div className="alert alert-error" data-testid="query-error" role="alert">
            <strong>
              {t('query.errorTitle')} ({outcome.error.type})
            </strong>
            <pre className="error-message">{outcome.error.message}</pre>
            <ErrorCaret message={outcome.error.message} expr={outcome.expr} />
          </div>
        )}
        {outcome && outcome.warnings.length > 0 && (
          <div className="alert alert-warn">
            <strong>{t('query.warnings')}:</strong>
            <ul>
              {outcome.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          </div>
        )}
        {outcome && outcome.infos.length > 0 && (
          <div className="alert alert-info">
            <strong>{t('query.infos')}:</strong>
            <ul>
              {outcome.infos.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          </div>
        )}
        {data && (
          <div className="muted small stats">
            {outcome?.range
              ? t('query.statsRange', { ms: outcome.loadMs, step: formatDuration(outcome.range.step), n: seriesCount })
              : t('query.stats', { ms: outcome?.loadMs ?? 0, n: seriesCount })}
          </div>
        )}
        {isEmpty && (
          <div className="alert alert-info" data-testid="query-empty">
            <strong>{t('query.empty')}</strong>
            <ul>
              <li>
                {t('query.emptyHintMetric')}{' '}
                <button type="button" className="link-button" onClick={() => setShowExplorer(true)}>
                  {t('query.emptyHintMetricLink')}
                </button>{' '}
                {t('query.emptyHintMetricTail')}
              </li>
              <li>{t('query.emptyHintRange', { range: panel.rangeInput })}</li>
              <li>{t('query.emptyHintLabels')}</li>
            </ul>
          </div>
        )}
        {data && !isEmpty && panel.tab === 'table' && <ResultTable data={data} />}
        {data &&
          !isEmpty &&
          panel.tab === 'graph' &&
          outcome?.range &&
          data.resultType === 'matrix' &&
          (data.result.some((s) => (s.values?.length ?? 0) > 0) ? (
            <Graph
              series={data.result}
              start={outcome.range.start}
              end={outcome.range.end}
              step={outcome.range.step}
              stacked={panel.stacked}
              theme={theme}
              onZoom={zoom}
            />
          ) : (
            <div className="alert alert-info">{t('query.graphNoFloats')}</div>
          ))}
        {data && !isEmpty && !loading && panel.tab === 'graph' && data.resultType !== 'matrix' && (
          <div className="alert alert-info">{t('query.notGraphable', { type: data.resultType })}</div>
        )}
      </div>
      {showExplorer && (
        <MetricExplorer
          onPick={(name) => {
            update({ expr: name });
            setShowExplorer(false);
          }}
          onClose={() => setShowExplorer(false)}
        />
      )}
    </section>
  );
});

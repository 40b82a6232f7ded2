/** The view a query panel shows. */
export type PanelTab = 'table' | 'graph';

/** Everything a query panel keeps, and what its URL parameters carry. */
export interface PanelState {
  /** A local identity for React keys; not in the URL. */
  id: number;
  expr: string;
  tab: PanelTab;
  /** The graph range as typed, a Prometheus duration such as `1h`. */
  rangeInput: string;
  /** The graph end time as typed (`YYYY-MM-DD HH:mm:ss` UTC); empty means now. */
  endInput: string;
  /** The table evaluation time as typed; empty means now. */
  momentInput: string;
  /** The graph step as typed (seconds or a duration); empty means automatic. */
  stepInput: string;
  stacked: boolean;
}

let nextId = 1;

/** A fresh panel with Prometheus's defaults (table view, one hour range). */
export function newPanel(expr = ''): PanelState {
  return {
    id: nextId++,
    expr,
    tab: 'table',
    rangeInput: '1h',
    endInput: '',
    momentInput: '',
    stepInput: '',
    stacked: false,
  };
}

/**
 * Reads panels from the URL parameters Prometheus uses (`g0.expr`, `g0.tab`, `g0.range_input`,
 * `g0.end_input`, `g0.moment_input`, `g0.step_input`, `g0.stacked`, and Prometheus 3's
 * `g0.display_mode`), so links made for Prometheus open here. Always returns at least one panel.
 */
export function panelsFromSearch(search: string): PanelState[] {
  const params = new URLSearchParams(search);
  const indexes = new Set<number>();
  for (const key of params.keys()) {
    const m = /^g(\d+)\./.exec(key);
    if (m && m[1] !== undefined) indexes.add(Number(m[1]));
  }
  const panels: PanelState[] = [];
  for (const i of [...indexes].sort((a, b) => a - b)) {
    const get = (name: string) => params.get(`g${i}.${name}`);
    const p = newPanel(get('expr') ?? '');
    const tab = get('tab');
    if (tab === '0' || tab === 'graph') p.tab = 'graph';
    else if (tab === '1' || tab === 'table') p.tab = 'table';
    p.rangeInput = get('range_input') || '1h';
    p.endInput = get('end_input') ?? '';
    p.momentInput = get('moment_input') ?? '';
    p.stepInput = get('step_input') ?? '';
    const displayMode = get('display_mode');
    p.stacked = get('stacked') === '1' || displayMode === 'stacked';
    panels.push(p);
  }
  return panels.length > 0 ? panels : [newPanel()];
}

/** Writes panels as Prometheus-compatible URL parameters (without the leading `?`). */
export function panelsToSearch(panels: PanelState[]): string {
  const params = new URLSearchParams();
  panels.forEach((p, i) => {
    params.set(`g${i}.expr`, p.expr);
    params.set(`g${i}.tab`, p.tab === 'graph' ? '0' : '1');
    params.set(`g${i}.stacked`, p.stacked ? '1' : '0');
    params.set(`g${i}.range_input`, p.rangeInput);
    if (p.endInput) params.set(`g${i}.end_input`, p.endInput);
    if (p.momentInput) params.set(`g${i}.moment_input`, p.momentInput);
    if (p.stepInput) params.set(`g${i}.step_input`, p.stepInput);
  });
  return params.toString();
}

/** The range steps the -/+ buttons move through, in seconds. */
export const RANGE_STEPS = [
  60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800, 1209600, 2419200, 4838400, 10368000, 31536000,
];

/** The next shorter (dir -1) or longer (dir +1) range from `current` seconds. */
export function stepRange(current: number, dir: -1 | 1): number {
  if (dir > 0) return RANGE_STEPS.find((s) => s > current) ?? current;
  const shorter = RANGE_STEPS.filter((s) => s < current);
  return shorter.length > 0 ? (shorter[shorter.length - 1] ?? current) : current;
}

/** Prometheus's automatic resolution: about 250 points across the range, at least 1s. */
export function autoStep(rangeSeconds: number): number {
  return Math.max(Math.floor(rangeSeconds / 250), 1);
}

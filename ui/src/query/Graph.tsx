import { memo, useEffect, useMemo, useRef, useState } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatSeries, formatTime } from '../format';
import { useT } from '../i18n';
import type { MatrixSeries } from './queryResult';

/** Series colours, distinguishable on light and dark backgrounds. */
const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#d97706',
  '#9333ea',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#ea580c',
  '#4f46e5',
  '#0d9488',
  '#b91c1c',
  '#7c3aed',
  '#ca8a04',
  '#0284c7',
  '#be185d',
];

/** The colour of series `i`. */
export function seriesColor(i: number): string {
  return PALETTE[i % PALETTE.length] ?? '#2563eb';
}

const NO_HIDDEN = new Set<number>();

function parseSampleValue(v: string): number | null {
  if (v === '+Inf' || v === '-Inf' || v === 'NaN') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Compact axis numbers: 1.5k, 2M, 0.001. */
function formatAxisValue(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) if (a >= size) return `${+(v / size).toPrecision(3)}${suffix}`;
  if (a < 0.001) return v.toExponential(1);
  return String(+v.toPrecision(3));
}

/** Time axis ticks in UTC, with as much of the date as the range needs. */
function formatAxisTime(ts: number, range: number): string {
  const full = formatTime(ts);
  if (range <= 600) return full.slice(11);
  if (range <= 86400) return full.slice(11, 16);
  if (range <= 7 * 86400) return full.slice(5, 16);
  return full.slice(0, 10);
}

/**
 * The aligned data uPlot draws, plus the unstacked values the tooltip shows. When stacked, hidden
 * series are left out of the sums so the visible stack adds up.
 */
function alignSeries(
  series: MatrixSeries[],
  start: number,
  end: number,
  step: number,
  stacked: boolean,
  hidden: Set<number>,
) {
  const n = Math.max(1, Math.floor((end - start) / step) + 1);
  const xs = new Array<number>(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const raw: Array<Array<number | null>> = series.map((s) => {
    const ys = new Array<number | null>(n).fill(null);
    for (const [ts, v] of s.values ?? []) {
      const idx = Math.round((ts - start) / step);
      if (idx >= 0 && idx < n) ys[idx] = parseSampleValue(v);
    }
    return ys;
  });
  let drawn = raw;
  if (stacked) {
    const acc = new Array<number>(n).fill(0);
    drawn = raw.map((ys, si) =>
      ys.map((y, i) => {
        if (y === null || hidden.has(si)) return null;
        acc[i] = (acc[i] ?? 0) + y;
        return acc[i] ?? null;
      }),
    );
  }
  return { xs, raw, drawn };
}

/** Bands that make each stacked series fill down to the visible series below it. */
function stackBands(count: number, hidden: Set<number>): uPlot.Band[] {
  const bands: uPlot.Band[] = [];
  let below = -1;
  for (let i = 0; i < count; i++) {
    if (hidden.has(i)) continue;
    if (below >= 0) bands.push({ series: [i + 1, below + 1] });
    below = i;
  }
  return bands;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * The graph view: uPlot lines (or stacked areas), drag to zoom, a hover tooltip with the nearest
 * series' labels and value, and a legend where a click toggles a series.
 */
export const Graph = memo(function Graph({
  series,
  start,
  end,
  step,
  stacked,
  theme,
  onZoom,
}: {
  series: MatrixSeries[];
  start: number;
  end: number;
  step: number;
  stacked: boolean;
  theme: string;
  onZoom: (start: number, end: number) => void;
}) {
  const t = useT();
  const container = useRef<HTMLDivElement>(null);
  const tooltip = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;

  const labels = useMemo(() => series.map((s) => formatSeries(s.metric)), [series]);
  const sparse = useMemo(() => series.map((s) => (s.values?.length ?? 0) < 30), [series]);
  useEffect(() => setHidden(new Set()), [series]);
  // Hiding a series changes the stack, so stacked graphs are rebuilt on toggles.
  const stackHidden = stacked ? hidden : NO_HIDDEN;
  const aligned = useMemo(
    () => alignSeries(series, start, end, step, stacked, stackHidden),
    [series, start, end, step, stacked, stackHidden],
  );

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const axisColor = cssVar('--muted', '#666');
    const gridColor = cssVar('--grid', '#e5e7eb');
    const width = Math.max(el.clientWidth, 200);
    const opts: Options = {
      width,
      height: 320,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { show: false },
      bands: stacked ? stackBands(labels.length, stackHidden) : undefined,
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      scales: { x: { time: true, range: [start, end] } },
      axes: [
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          values: (_u, splits) => splits.map((ts) => formatAxisTime(ts, end - start)),
        },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          size: 60,
          values: (_u, splits) => splits.map(formatAxisValue),
        },
      ],
      series: [
        {},
        ...labels.map((label, i) => ({
          label,
          stroke: seriesColor(i),
          width: 1.5,
          fill: stacked ? seriesColor(i) + '55' : undefined,
          spanGaps: false,
          // Isolated samples (a fresh series, gaps) are invisible as lines; dots show them.
          points: { show: sparse[i] ?? false, size: 4 },
        })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 5) return;
            const from = u.posToVal(u.select.left, 'x');
            const to = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            onZoomRef.current(Math.floor(from), Math.ceil(to));
          },
        ],
        setCursor: [
          (u) => {
            const tip = tooltip.current;
            if (!tip) return;
            const idx = u.cursor.idx;
            const top = u.cursor.top ?? -1;
            if (idx === null || idx === undefined || top < 0) {
              tip.style.display = 'none';
              return;
            }
            let best = -1;
            let bestDist = Infinity;
            for (let s = 1; s < u.series.length; s++) {
              if (!u.series[s]?.show) continue;
              const y = u.data[s]?.[idx];
              if (y === null || y === undefined) continue;
              const d = Math.abs(u.valToPos(y, 'y') - top);
              if (d < bestDist) {
                bestDist = d;
                best = s;
              }
            }
            if (best < 0) {
              tip.style.display = 'none';
              return;
            }
            const x = u.data[0][idx] ?? 0;
            const value = aligned.raw[best - 1]?.[idx];
            tip.replaceChildren();
            const time = document.createElement('div');
            time.className = 'tooltip-time';
            time.textContent = formatTime(x) + ' UTC';
            const row = document.createElement('div');
            row.className = 'tooltip-series';
            const swatch = document.createElement('span');
            swatch.className = 'swatch';
            swatch.style.background = seriesColor(best - 1);
            const name = document.createElement('span');
            name.textContent = labels[best - 1] ?? '';
            row.append(swatch, name);
            const val = document.createElement('div');
            val.className = 'tooltip-value';
            val.textContent = String(value ?? '');
            tip.append(time, row, val);
            tip.style.display = 'block';
            const left = (u.cursor.left ?? 0) + u.over.offsetLeft;
            const flip = left > u.over.clientWidth / 2;
            tip.style.left = flip ? '' : `${left + 12}px`;
            tip.style.right = flip ? `${el.clientWidth - left + 12}px` : '';
            tip.style.top = `${top + u.over.offsetTop + 12}px`;
          },
        ],
      },
    };
    const data: AlignedData = [aligned.xs, ...aligned.drawn] as AlignedData;
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 200);
      if (w !== u.width) u.setSize({ width: w, height: 320 });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [aligned, labels, sparse, stacked, stackHidden, start, end, theme]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    for (let i = 0; i < labels.length; i++) {
      const show = !hidden.has(i);
      if (u.series[i + 1]?.show !== show) u.setSeries(i + 1, { show });
    }
  }, [hidden, labels, aligned]);

  const toggle = (i: number, only: boolean) => {
    setHidden((h) => {
      if (only) {
        const alone = h.size === labels.length - 1 && !h.has(i);
        return alone ? new Set() : new Set(labels.map((_, j) => j).filter((j) => j !== i));
      }
      const next = new Set(h);
      if (next.has(i)) next.delete(i);
      else next.add(i);
      return next;
    });
  };

  return (
    <div className="graph-wrap">
      <div className="graph" data-testid="graph" ref={container}>
        <div className="graph-tooltip" ref={tooltip} />
      </div>
      <p className="muted small">
        {t('query.zoomHint')} {t('query.legendHint')}
      </p>
      <ul className="legend">
        {labels.map((label, i) => (
          <li key={i}>
            <button
              type="button"
              className={hidden.has(i) ? 'legend-item off' : 'legend-item'}
              onClick={(e) => toggle(i, e.ctrlKey || e.metaKey)}
            >
              <span className="swatch" style={{ background: seriesColor(i) }} />
              <span className="mono">{label}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
});

/** A label set as the API returns it. */
export type LabelSet = Record<string, string>;

/** Escapes a label value the way PromQL string literals need it. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

const PLAIN_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const PLAIN_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Formats a series as Prometheus prints it: `name{a="b", c="d"}`, `{a="b"}` without a name, and
 * quoted names for UTF-8 names that are not plain identifiers (Prometheus 3 syntax).
 */
export function formatSeries(labels: LabelSet): string {
  const name = labels['__name__'];
  const parts: string[] = [];
  let head = '';
  if (name !== undefined) {
    if (PLAIN_NAME.test(name)) head = name;
    else parts.push(`"${escapeLabelValue(name)}"`);
  }
  for (const k of Object.keys(labels).sort()) {
    if (k === '__name__') continue;
    const key = PLAIN_LABEL.test(k) ? k : `"${escapeLabelValue(k)}"`;
    parts.push(`${key}="${escapeLabelValue(labels[k] ?? '')}"`);
  }
  if (parts.length === 0) return head === '' ? '{}' : head;
  return `${head}{${parts.join(', ')}}`;
}

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

/**
 * Parses a Prometheus duration (`30s`, `1h30m`, `1d`, `500ms`) into seconds; returns null when the
 * text is not one. Units must appear from largest to smallest, each once, as in Prometheus.
 */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  const re = /(\d+)(ms|y|w|d|h|m|s)/y;
  let pos = 0;
  let total = 0;
  let lastUnit = Infinity;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m || m[1] === undefined || m[2] === undefined) return null;
    const unit = UNIT_SECONDS[m[2]];
    if (unit === undefined || unit >= lastUnit) return null;
    lastUnit = unit;
    total += Number(m[1]) * unit;
    pos = re.lastIndex;
  }
  return total;
}

/** Formats seconds as a Prometheus duration (`1h30m`, `45s`, `1d`); the inverse of parseDuration. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '0s';
  let ms = Math.round(seconds * 1000);
  let out = '';
  for (const [unit, size] of [
    ['y', 31536000000],
    ['w', 604800000],
    ['d', 86400000],
    ['h', 3600000],
    ['m', 60000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(ms / size);
    if (n > 0) {
      out += `${n}${unit}`;
      ms -= n * size;
    }
  }
  return out;
}

/**
 * Formats an elapsed time for people: `850ms`, `12.3s`, `4m 5s`, `2h 10m`, `3d 4h`.
 */
export function humanizeDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.abs(seconds);
  if (s === 0) return '0ms';
  if (s < 0.01) return `${+(s * 1000).toFixed(1)}ms`;
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  if (s < 60) return `${(Math.round(s * 10) / 10).toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Formats a Unix time in seconds as `YYYY-MM-DD HH:mm:ss` in UTC (Prometheus's end_input form). */
export function formatTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/**
 * Parses `YYYY-MM-DD HH:mm[:ss]` (UTC), an RFC 3339 time, or a Unix timestamp into Unix seconds;
 * null when it is none of those.
 */
export function parseTime(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(s);
  if (m) {
    const [, y, mo, d, h, mi, se] = m;
    const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se ?? 0));
    return Number.isNaN(t) ? null : t / 1000;
  }
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t / 1000;
}

/** Formats a byte count as `12.3 MiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Formats a plain count with thousands separators. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Seconds between an RFC 3339 time and `nowMs`, or null for a missing/zero time. */
export function secondsSince(rfc3339: string | undefined, nowMs: number): number | null {
  if (!rfc3339 || rfc3339.startsWith('0001-01-01')) return null;
  const t = Date.parse(rfc3339);
  if (Number.isNaN(t)) return null;
  return (nowMs - t) / 1000;
}

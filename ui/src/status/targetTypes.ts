import type { LabelSet } from '../format';

/** An active target as /api/v1/targets returns it. */
export interface ActiveTarget {
  discoveredLabels: LabelSet;
  labels: LabelSet;
  scrapePool: string;
  scrapeUrl: string;
  globalUrl?: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: 'up' | 'down' | 'unknown';
  scrapeInterval?: string;
  scrapeTimeout?: string;
}

/** A target dropped by relabeling. */
export interface DroppedTarget {
  discoveredLabels: LabelSet;
  scrapePool?: string;
}

/** The `data` of /api/v1/targets. */
export interface TargetsData {
  activeTargets?: ActiveTarget[];
  droppedTargets?: DroppedTarget[];
  droppedTargetCounts?: Record<string, number>;
}

/** Groups items by a key, keeping pools sorted by name. */
export function groupBy<T>(items: T[], key: (t: T) => string): Array<[string, T[]]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    let list = m.get(k);
    if (!list) {
      list = [];
      m.set(k, list);
    }
    list.push(it);
  }
  return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

/** Does the target match every word of the filter (in its endpoint or labels)? */
export function targetMatches(t: ActiveTarget, words: string[]): boolean {
  if (words.length === 0) return true;
  const hay = (
    t.scrapeUrl +
    ' ' +
    Object.entries(t.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(' ')
  ).toLowerCase();
  return words.every((w) => hay.includes(w));
}

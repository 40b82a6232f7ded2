import { readStorage, writeStorage } from '../settings';

const KEY = 'pharos.queryHistory';
const MAX_ENTRIES = 50;

/** The remembered expressions, newest first. */
export function loadHistory(): string[] {
  try {
    const v: unknown = JSON.parse(readStorage(KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Puts `expr` first in the history (once) and returns the new list. */
export function rememberQuery(expr: string): string[] {
  const e = expr.trim();
  if (e === '') return loadHistory();
  const list = [e, ...loadHistory().filter((x) => x !== e)].slice(0, MAX_ENTRIES);
  writeStorage(KEY, JSON.stringify(list));
  return list;
}

/** Forgets every remembered expression. */
export function clearHistory(): void {
  writeStorage(KEY, '[]');
}

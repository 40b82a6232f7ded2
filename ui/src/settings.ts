import type { Lang } from './i18n';
import { initialLang } from './i18n';

/** The colour themes the UI has. */
export type Theme = 'light' | 'dark';

const LANG_KEY = 'pharos.language';
const THEME_KEY = 'pharos.theme';

function readStorage(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Stores a setting; a browser that refuses storage (private mode) just forgets it. */
export function writeStorage(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // Storage disabled: the setting lasts for this page only.
  }
}

/** Reads a stored value, null when absent or when storage is unavailable. */
export { readStorage };

/** The language to start with: remembered, else from navigator.language. */
export function loadLang(): Lang {
  return initialLang(readStorage(LANG_KEY), navigator.language);
}

/** Remembers the chosen language. */
export function saveLang(lang: Lang): void {
  writeStorage(LANG_KEY, lang);
}

/** The theme to start with: remembered, else from prefers-color-scheme. */
export function loadTheme(): Theme {
  const stored = readStorage(THEME_KEY);
  if (stored === 'light' || stored === 'dark') return stored;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Remembers the chosen theme. */
export function saveTheme(theme: Theme): void {
  writeStorage(THEME_KEY, theme);
}

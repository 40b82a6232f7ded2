/** The placeholder the server replaces with its route prefix when it serves index.html. */
const PLACEHOLDER = '__PHAROS_ROUTE_PREFIX__';

/**
 * Normalises the raw meta value into a prefix: "" or "/something" without a trailing slash.
 * The untouched placeholder (as under `vite dev`) means no prefix.
 */
export function normalisePrefix(raw: string | null | undefined): string {
  if (!raw || raw === PLACEHOLDER) return '';
  let p = raw.trim();
  while (p.endsWith('/')) p = p.slice(0, -1);
  if (p !== '' && !p.startsWith('/')) p = '/' + p;
  return p;
}

function readPrefix(): string {
  if (typeof document === 'undefined') return '';
  const meta = document.querySelector('meta[name="pharos-route-prefix"]');
  return normalisePrefix(meta?.getAttribute('content'));
}

/** The route prefix every API call and link starts with. */
export const routePrefix: string = readPrefix();

/** The absolute URL of the server the UI talks to, for messages and the PromQL completion client. */
export function serverUrl(): string {
  return `${window.location.origin}${routePrefix}`;
}

import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';
import { routePrefix } from './routePrefix';

/** The page paths the app knows, relative to the route prefix. */
export type PagePath =
  | '/query'
  | '/alerts'
  | '/rules'
  | '/targets'
  | '/service-discovery'
  | '/status'
  | '/tsdb-status'
  | '/config'
  | '/flags';

const NAV_EVENT = 'pharos:navigate';

function subscribe(cb: () => void): () => void {
  window.addEventListener('popstate', cb);
  window.addEventListener(NAV_EVENT, cb);
  return () => {
    window.removeEventListener('popstate', cb);
    window.removeEventListener(NAV_EVENT, cb);
  };
}

/** The current path with the route prefix removed ("/query", ...). */
export function currentPath(): string {
  const p = window.location.pathname;
  const rest = routePrefix && p.startsWith(routePrefix) ? p.slice(routePrefix.length) : p;
  return rest === '' ? '/' : rest;
}

/** The current location (path without prefix plus query string), re-rendering on navigation. */
export function useLocation(): { path: string; search: string } {
  const key = useSyncExternalStore(subscribe, () => currentPath() + '\u0000' + window.location.search);
  const [path = '/', search = ''] = key.split('\u0000');
  return { path, search };
}

/** Goes to `to` (a path under the prefix, may carry a query string) without reloading. */
export function navigate(to: string, replace = false): void {
  const url = routePrefix + to;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(NAV_EVENT));
}

/** Replaces the query string of the current page without adding a history entry. */
export function replaceSearch(search: string): void {
  const url = window.location.pathname + (search ? '?' + search : '');
  if (url === window.location.pathname + window.location.search) return;
  window.history.replaceState(null, '', url);
}

/** A link to a page of the app: a real href (so it can be opened in a new tab) and in-app navigation. */
export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={routePrefix + to} onClick={handle} {...rest} />;
}

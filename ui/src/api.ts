import { routePrefix, serverUrl } from './routePrefix';

/** An error answer from the API, in Prometheus's shape (`errorType` and `error`). */
export class ApiError extends Error {
  constructor(
    public readonly errorType: string,
    message: string,
    public readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The server could not be reached at all (connection refused, DNS, proxy gateway errors). */
export class UnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}

/** The successful API envelope, with the optional warnings and infos Prometheus adds. */
export interface ApiSuccess<T> {
  data: T;
  warnings?: string[];
  infos?: string[];
}

type ReachabilityListener = (problem: string | null) => void;
const listeners = new Set<ReachabilityListener>();
let currentProblem: string | null = null;

/** Subscribes to changes of server reachability; the listener gets the problem text or null. */
export function onReachabilityChange(l: ReachabilityListener): () => void {
  listeners.add(l);
  l(currentProblem);
  return () => listeners.delete(l);
}

function setProblem(problem: string | null) {
  if (problem === currentProblem) return;
  currentProblem = problem;
  for (const l of listeners) l(problem);
}

/** Builds `<prefix>/api/v1/<path>?<params>`. */
export function apiUrl(path: string, params?: Record<string, string | string[] | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.append(k, v);
  }
  const s = qs.toString();
  return `${routePrefix}/api/v1/${path}${s ? '?' + s : ''}`;
}

/**
 * A gateway status, or a server error with an empty body, comes from a proxy in front of a
 * stopped server (the server itself always explains its errors), so it counts as unreachable.
 */
function isProxyFailure(status: number, body: string): boolean {
  return status === 502 || status === 503 || status === 504 || (status >= 500 && body.trim() === '');
}

/**
 * Calls an API v1 endpoint and returns the `data` of a success answer. Throws `ApiError` for an
 * error answer and `UnreachableError` when no answer came back.
 */
export async function apiGet<T>(
  path: string,
  params?: Record<string, string | string[] | undefined>,
  signal?: AbortSignal,
): Promise<ApiSuccess<T>> {
  let resp: Response;
  try {
    resp = await fetch(apiUrl(path, params), { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    const msg = e instanceof Error ? e.message : String(e);
    setProblem(msg);
    throw new UnreachableError(msg);
  }
  let body: unknown;
  const text = await resp.text();
  try {
    body = JSON.parse(text);
  } catch {
    if (isProxyFailure(resp.status, text)) {
      const msg = `HTTP ${resp.status} ${resp.statusText}`.trim();
      setProblem(msg);
      throw new UnreachableError(msg);
    }
    setProblem(null);
    throw new ApiError(
      'bad_response',
      `HTTP ${resp.status}: the server did not answer with JSON (${text.slice(0, 200) || 'empty body'})`,
      resp.status,
    );
  }
  setProblem(null);
  const env = body as {
    status?: string;
    data?: T;
    errorType?: string;
    error?: string;
    warnings?: string[];
    infos?: string[];
  };
  if (env.status !== 'success') {
    throw new ApiError(env.errorType ?? 'unknown', env.error ?? `HTTP ${resp.status}`, resp.status);
  }
  return { data: env.data as T, warnings: env.warnings, infos: env.infos };
}

/** Checks `/-/healthy` so the unreachable banner appears (and clears) without user action. */
export async function checkHealth(): Promise<void> {
  try {
    const resp = await fetch(`${routePrefix}/-/healthy`, { cache: 'no-store' });
    if (isProxyFailure(resp.status, await resp.text())) setProblem(`HTTP ${resp.status} ${resp.statusText}`.trim());
    else setProblem(null);
  } catch (e) {
    setProblem(e instanceof Error ? e.message : String(e));
  }
}

/** The server URL shown in the unreachable banner. */
export { serverUrl };

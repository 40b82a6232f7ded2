import { useCallback, useEffect, useState } from 'react';
import { apiGet, type ApiSuccess } from './api';

/** The state of one API request a page draws from. */
export interface ApiState<T> {
  result: ApiSuccess<T> | null;
  error: Error | null;
  loading: boolean;
  /** When the last answer arrived (ms since epoch), for "12.3s ago". */
  fetchedAt: number;
  reload: () => void;
}

/** Fetches `path` once on mount (and on `reload`); one request per call, as each page needs. */
export function useApi<T>(path: string, params?: Record<string, string>): ApiState<T> {
  const [result, setResult] = useState<ApiSuccess<T> | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [fetchedAt, setFetchedAt] = useState(Date.now());
  const [generation, setGeneration] = useState(0);
  const key = path + '?' + new URLSearchParams(params).toString();
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    apiGet<T>(path, params, ctl.signal)
      .then((r) => {
        setResult(r);
        setError(null);
        setFetchedAt(Date.now());
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        setError(e instanceof Error ? e : new Error(String(e)));
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoading(false);
      });
    return () => ctl.abort();
    // `key` stands for path and params.
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { result, error, loading, fetchedAt, reload };
}

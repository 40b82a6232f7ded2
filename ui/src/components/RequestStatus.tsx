import type { ReactNode } from 'react';
import { ApiError, UnreachableError } from '../api';
import { useT } from '../i18n';
import type { ApiState } from '../useApi';

/** Shows why a page's request has no data yet (loading or failed), else draws `children`. */
export function RequestStatus<T>({ state, children }: { state: ApiState<T>; children: (data: T) => ReactNode }) {
  const t = useT();
  if (state.result) return <>{children(state.result.data)}</>;
  if (state.error) return <RequestError error={state.error} />;
  return <p className="muted loading">{t('common.loading')}</p>;
}

/** A failed request in words: the server's error type and message. */
export function RequestError({ error }: { error: Error }) {
  const t = useT();
  const type =
    error instanceof ApiError ? error.errorType : error instanceof UnreachableError ? 'unreachable' : 'error';
  return (
    <div className="alert alert-error" role="alert">
      {t('common.requestFailed', { type, message: error.message })}
    </div>
  );
}

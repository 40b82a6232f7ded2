import { useEffect, useState, type InputHTMLAttributes } from 'react';

/**
 * A text input that hands its value over on Enter or when it loses focus, not on every key, so a
 * half-typed time or duration does not start a query.
 */
export function CommitInput({
  value,
  onCommit,
  ...rest
}: { value: string; onCommit: (v: string) => void } & Omit<
  InputHTMLAttributes<HTMLInputElement>,
  'value' | 'onChange'
>) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return (
    <input
      {...rest}
      value={draft}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={() => {
        if (draft !== value) onCommit(draft);
      }}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && draft !== value) onCommit(draft);
      }}
    />
  );
}

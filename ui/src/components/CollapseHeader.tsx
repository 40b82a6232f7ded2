import type { ReactNode } from 'react';

/** The clickable heading of a collapsible section, with an arrow that shows its state. */
export function CollapseHeader({
  open,
  onToggle,
  children,
}: {
  open: boolean;
  onToggle: () => void;
  children: ReactNode;
}) {
  return (
    <button type="button" className="collapse-header" aria-expanded={open} onClick={onToggle}>
      <span className={open ? 'chevron open' : 'chevron'} aria-hidden="true">
        ▸
      </span>
      {children}
    </button>
  );
}

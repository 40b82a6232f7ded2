import { memo } from 'react';
import type { LabelSet } from '../format';

/**
 * A label set as compact `name="value"` badges. Each badge is one span with one text node, so a
 * page of 1,000 targets stays light.
 */
export const LabelBadges = memo(function LabelBadges({ labels }: { labels: LabelSet }) {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return <span className="muted">-</span>;
  return (
    <span className="label-badges">
      {keys.map((k) => (
        <span key={k} className="label-badge">{`${k}="${labels[k] ?? ''}"`}</span>
      ))}
    </span>
  );
});

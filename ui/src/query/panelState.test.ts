import { describe, expect, it } from 'vitest';
import { autoStep, panelsFromSearch, panelsToSearch, stepRange } from './panelState';

describe('query page URL state', () => {
  it('reads Prometheus links, including alert generator URLs', () => {
    const [p] = panelsFromSearch('?g0.expr=up%20%3D%3D%200&g0.tab=1');
    expect(p?.expr).toBe('up == 0');
    expect(p?.tab).toBe('table');
  });
  it('reads every panel parameter and several panels in order', () => {
    const ps = panelsFromSearch(
      'g1.expr=b&g0.expr=a&g0.tab=0&g0.range_input=6h&g0.end_input=2024-01-31%2012%3A00%3A00&g0.step_input=30&g0.stacked=1',
    );
    expect(ps.map((p) => p.expr)).toEqual(['a', 'b']);
    expect(ps[0]).toMatchObject({
      tab: 'graph',
      rangeInput: '6h',
      endInput: '2024-01-31 12:00:00',
      stepInput: '30',
      stacked: true,
    });
    expect(ps[1]).toMatchObject({ tab: 'table', rangeInput: '1h', stacked: false });
  });
  it('accepts Prometheus 3 display_mode=stacked', () => {
    expect(panelsFromSearch('g0.expr=x&g0.display_mode=stacked')[0]?.stacked).toBe(true);
  });
  it('gives one empty panel without parameters', () => {
    const ps = panelsFromSearch('');
    expect(ps).toHaveLength(1);
    expect(ps[0]?.expr).toBe('');
  });
  it('round-trips through the URL', () => {
    const ps = panelsFromSearch(
      'g0.expr=rate(x%5B5m%5D)&g0.tab=0&g0.range_input=30m&g0.moment_input=2024-01-01%2000%3A00%3A00',
    );
    const again = panelsFromSearch(panelsToSearch(ps));
    expect(again.map(({ id: _id, ...rest }) => rest)).toEqual(ps.map(({ id: _id, ...rest }) => rest));
  });
});

describe('range steps', () => {
  it('moves through the usual ranges', () => {
    expect(stepRange(3600, 1)).toBe(7200);
    expect(stepRange(3600, -1)).toBe(1800);
    expect(stepRange(60, -1)).toBe(60);
    expect(stepRange(5000, -1)).toBe(3600);
  });
  it('picks about 250 points', () => {
    expect(autoStep(3600)).toBe(14);
    expect(autoStep(60)).toBe(1);
  });
});

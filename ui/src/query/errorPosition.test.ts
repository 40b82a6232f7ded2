import { describe, expect, it } from 'vitest';
import { parseErrorPosition } from './errorPosition';

describe('parseErrorPosition', () => {
  it("finds the position in the server's parse error", () => {
    const msg = 'invalid parameter "query": 1:19: parse error: unexpected identifier "by"';
    expect(parseErrorPosition(msg, 'sum(rate(foo[5m]) by')).toEqual({
      line: 1,
      column: 19,
      text: 'sum(rate(foo[5m]) by',
    });
  });
  it('reads later lines of a multi-line expression', () => {
    expect(parseErrorPosition('2:3: parse error: x', 'sum(\n  )')).toEqual({ line: 2, column: 3, text: '  )' });
  });
  it('points just past the end for "unexpected end of input"', () => {
    expect(parseErrorPosition('1:4: parse error: unexpected end of input', '1 +')?.column).toBe(4);
  });
  it('gives up when the position is not in the expression', () => {
    expect(parseErrorPosition('5:1: parse error: x', 'up')).toBeNull();
    expect(parseErrorPosition('1:40: parse error: x', 'up')).toBeNull();
    expect(parseErrorPosition('query timed out', 'up')).toBeNull();
  });
});

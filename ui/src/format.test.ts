import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatSeries,
  formatTime,
  humanizeDuration,
  parseDuration,
  parseTime,
  secondsSince,
} from './format';
import { normalisePrefix } from './routePrefix';

describe('formatSeries', () => {
  it('prints name and sorted labels like Prometheus', () => {
    expect(formatSeries({ __name__: 'up', job: 'node', instance: 'a:9100' })).toBe('up{instance="a:9100", job="node"}');
  });
  it('prints a bare name without braces and labels without a name in braces', () => {
    expect(formatSeries({ __name__: 'up' })).toBe('up');
    expect(formatSeries({ mode: 'idle' })).toBe('{mode="idle"}');
    expect(formatSeries({})).toBe('{}');
  });
  it('escapes quotes, backslashes and newlines', () => {
    expect(formatSeries({ a: 'x"y\\z\nw' })).toBe('{a="x\\"y\\\\z\\nw"}');
  });
  it('quotes UTF-8 names that are not plain identifiers', () => {
    expect(formatSeries({ __name__: 'http.requests', 'service.name': 'api' })).toBe(
      '{"http.requests", "service.name"="api"}',
    );
  });
});

describe('parseDuration', () => {
  it('parses single and compound units', () => {
    expect(parseDuration('30s')).toBe(30);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('1d')).toBe(86400);
    expect(parseDuration('2w')).toBe(1209600);
    expect(parseDuration('500ms')).toBe(0.5);
  });
  it('rejects malformed durations', () => {
    expect(parseDuration('')).toBeNull();
    expect(parseDuration('1x')).toBeNull();
    expect(parseDuration('h')).toBeNull();
    expect(parseDuration('30m1h')).toBeNull();
    expect(parseDuration('1h 30m')).toBeNull();
  });
  it('round-trips through formatDuration', () => {
    for (const s of ['1m', '5m', '1h30m', '1d', '1w', '1d12h']) {
      const secs = parseDuration(s);
      expect(secs).not.toBeNull();
      expect(formatDuration(secs ?? 0)).toBe(s);
    }
  });
});

describe('humanizeDuration', () => {
  it('reads like "12.3s ago"', () => {
    expect(humanizeDuration(12.34)).toBe('12.3s');
    expect(humanizeDuration(0.045)).toBe('45ms');
    expect(humanizeDuration(0.0003)).toBe('0.3ms');
    expect(humanizeDuration(0)).toBe('0ms');
    expect(humanizeDuration(125)).toBe('2m 5s');
    expect(humanizeDuration(7800)).toBe('2h 10m');
    expect(humanizeDuration(90000)).toBe('1d 1h');
  });
});

describe('times', () => {
  it('formats and parses UTC end times', () => {
    expect(formatTime(0)).toBe('1970-01-01 00:00:00');
    expect(parseTime('2024-01-31 12:00:00')).toBe(Date.UTC(2024, 0, 31, 12) / 1000);
    expect(parseTime('2024-01-31 12:00')).toBe(Date.UTC(2024, 0, 31, 12) / 1000);
    expect(parseTime('1700000000')).toBe(1700000000);
    expect(parseTime('yesterday')).toBeNull();
  });
  it('treats the zero time as never', () => {
    expect(secondsSince('0001-01-01T00:00:00Z', Date.now())).toBeNull();
    expect(secondsSince('2024-01-01T00:00:10Z', Date.UTC(2024, 0, 1, 0, 0, 22, 300))).toBeCloseTo(12.3);
  });
});

describe('normalisePrefix', () => {
  it('treats the unreplaced placeholder as no prefix', () => {
    expect(normalisePrefix('__PHAROS_ROUTE_PREFIX__')).toBe('');
    expect(normalisePrefix('')).toBe('');
    expect(normalisePrefix(null)).toBe('');
  });
  it('drops trailing slashes and adds the leading one', () => {
    expect(normalisePrefix('/prometheus/')).toBe('/prometheus');
    expect(normalisePrefix('prometheus')).toBe('/prometheus');
    expect(normalisePrefix('/')).toBe('');
  });
});

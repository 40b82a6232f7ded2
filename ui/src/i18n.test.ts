import { describe, expect, it } from 'vitest';
import { initialLang, TABLES, translate, type TextKey } from './i18n';

describe('i18n', () => {
  it('has a non-empty Korean text with the same placeholders for every key', () => {
    for (const key of Object.keys(TABLES.en) as TextKey[]) {
      const en = TABLES.en[key];
      const ko = TABLES.ko[key];
      expect(ko, key).toBeTruthy();
      const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(vars(ko), key).toEqual(vars(en));
    }
  });
  it('fills placeholders', () => {
    expect(translate('en', 'common.ago', { d: '12.3s' })).toBe('12.3s ago');
    expect(translate('ko', 'common.ago', { d: '12.3s' })).toBe('12.3s 전');
  });
  it('starts from the stored language, else the browser language', () => {
    expect(initialLang('ko', 'en-US')).toBe('ko');
    expect(initialLang(null, 'ko-KR')).toBe('ko');
    expect(initialLang(null, 'de-DE')).toBe('en');
    expect(initialLang('xx', undefined)).toBe('en');
  });
});

import { describe, expect, it } from 'vitest';
import { parseDuration } from './index.js';

describe('parseDuration', () => {
  it('reads nginx times with units, alone and combined', () => {
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1h 30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('2w')).toBe(1_209_600_000);
    expect(parseDuration('1M')).toBe(2_592_000_000);
    expect(parseDuration('1y')).toBe(31_536_000_000);
    expect(parseDuration('0')).toBe(0);
  });

  it('takes a bare number in text as seconds and a JS number as milliseconds', () => {
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration(250)).toBe(250);
  });

  it('rejects what is not a time', () => {
    expect(parseDuration('')).toBeUndefined();
    expect(parseDuration('ten')).toBeUndefined();
    expect(parseDuration('10x')).toBeUndefined();
    expect(parseDuration('1m 30')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
    expect(parseDuration(-5)).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
  });
});

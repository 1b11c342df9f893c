import { describe, expect, it } from 'vitest';
import { parseNginxTime } from './index.js';

describe('parseNginxTime', () => {
  it('reads nginx time text as milliseconds', () => {
    expect(parseNginxTime('10m', 'ms')).toBe(600_000);
    expect(parseNginxTime('1h30m', 's')).toBe(5_400_000);
    expect(parseNginxTime(' 1h 30m ', 'ms')).toBe(5_400_000);
    expect(parseNginxTime('500ms', 'ms')).toBe(500);
    expect(parseNginxTime('1y', 'ms')).toBe(31_536_000_000);
  });

  it('reads bare text as seconds, whatever unit a number has', () => {
    expect(parseNginxTime('30', 'ms')).toBe(30_000);
    expect(parseNginxTime('30', 's')).toBe(30_000);
    expect(parseNginxTime('0', 's')).toBe(0);
  });

  it('counts a number in the unit it is given', () => {
    expect(parseNginxTime(250, 'ms')).toBe(250);
    expect(parseNginxTime(250.9, 'ms')).toBe(250);
    expect(parseNginxTime(30, 's')).toBe(30_000);
  });

  it('refuses what is not a time', () => {
    for (const bad of [
      '',
      'ten',
      '10x',
      '1m 30',
      '-1s',
      '1.5s',
      -5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      null,
      {},
    ]) {
      expect(parseNginxTime(bad, 'ms')).toBeUndefined();
    }
    expect(parseNginxTime(1.5, 's')).toBeUndefined();
  });

  it('refuses times past the safe integer range instead of rounding them', () => {
    expect(parseNginxTime(9_007_199_254_740, 's')).toBe(9_007_199_254_740_000);
    expect(parseNginxTime(1e16, 's')).toBeUndefined();
    expect(parseNginxTime('99999999999999999', 's')).toBeUndefined();
    expect(parseNginxTime(1e308, 'ms')).toBeUndefined();
  });
});

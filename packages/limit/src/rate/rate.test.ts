import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { parseRate } from './index.js';

describe('parseRate', () => {
  it('keeps thousandths of a request per second, as nginx (rate * 1000 / scale)', () => {
    expect(parseRate('10r/s')).toBe(10_000);
    expect(parseRate('30r/m')).toBe(500);
    expect(parseRate('1r/m')).toBe(16);
    expect(parseRate('7r/m')).toBe(116);
    expect(parseRate(2)).toBe(2000);
    expect(parseRate(0.5)).toBe(500);
    expect(parseRate(0.001)).toBe(1);
  });

  it.each([
    ['10r/h'],
    ['0r/s'],
    ['-1r/s'],
    ['1.5r/s'],
    ['10'],
    [0],
    [-2],
    [0.0001],
    [Number.NaN],
    [Infinity],
    [null],
  ])('refuses %s', (rate) => {
    expect(() => parseRate(rate)).toThrow(InvalidOptionError);
  });

  it('names the option and the value in the message', () => {
    expect(() => parseRate('10r/h', 'rate')).toThrow(
      `rate: expected a rate like '10r/s' or '30r/m' (at least 0.001 r/s), got "10r/h"`,
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  boolAt,
  functionAt,
  intAt,
  knownKeys,
  objectAt,
  oneOf,
  optionPath,
  optionsAt,
  stringAt,
  timeAt,
} from './index.js';

describe('option validation', () => {
  it('joins option paths from the root', () => {
    expect([optionPath('', 'burst'), optionPath('req[0]', 'burst')]).toEqual(['burst', 'req[0].burst']);
  });

  it('refuses an unknown key, naming the keys there are', () => {
    expect(() => knownKeys('tls', { ca: 'x', cafile: 1 }, ['ca', 'cert'])).toThrow(
      'tls.cafile: unknown option (known: ca, cert)',
    );
    expect(() => optionsAt('', { bogus: 1 }, new Set(['a']))).toThrow('bogus: unknown option (known: a)');
    expect(() => optionsAt('', null, ['a'])).toThrow('options: expected an object, got null');
    expect(() => objectAt('tls', [])).toThrow('tls: expected an object, got []');
    expect(optionsAt('x', { a: 1 }, ['a'])).toEqual({ a: 1 });
  });

  it('names the range an integer must be in', () => {
    expect(intAt('n', undefined, 5, 1)).toBe(5);
    expect(() => intAt('n', 0, 5, 1)).toThrow('n: expected a positive integer, got 0');
    expect(() => intAt('n', -1, 5, 0)).toThrow('n: expected a non-negative integer, got -1');
    expect(() => intAt('n', 1, 5, 2)).toThrow('n: expected an integer >= 2, got 1');
    expect(() => intAt('n', 600, 5, 400, 599)).toThrow('n: expected an integer from 400 to 599, got 600');
    expect(() => intAt('n', 1.5, 5, 0)).toThrow('got 1.5');
    expect(() => intAt('n', undefined, undefined, 1)).toThrow(
      'n: expected a positive integer, got undefined',
    );
  });

  it('checks booleans, strings and functions', () => {
    expect([boolAt('b', undefined, true), stringAt('s', undefined, 'x'), functionAt('f', undefined)]).toEqual(
      [true, 'x', undefined],
    );
    expect(() => boolAt('b', 'on', false)).toThrow('b: expected a boolean, got "on"');
    expect(() => stringAt('s', '')).toThrow('s: expected a non-empty string, got ""');
    expect(() => functionAt('f', 1)).toThrow('f: expected a function, got 1');
  });

  it('lists the choices of a one-of option', () => {
    expect(oneOf('mode', undefined, ['a', 'b'], 'a')).toBe('a');
    expect(oneOf('mode', 'b', ['a', 'b'])).toBe('b');
    expect(() => oneOf('mode', 'c', ['a', 'b'])).toThrow('mode: expected one of "a", "b", got "c"');
  });

  it('reads a time in nginx syntax or as a number of the given unit', () => {
    expect([
      timeAt('t', '1m', 0, 'ms'),
      timeAt('t', 5, 0, 'ms'),
      timeAt('t', 5, 0, 's'),
      timeAt('t', undefined, 7, 's'),
    ]).toEqual([60_000, 5, 5_000, 7]);
    expect(() => timeAt('t', '10x', 0, 'ms')).toThrow(
      't: expected an nginx time such as "10s", or a number of ms, got "10x"',
    );
  });
});

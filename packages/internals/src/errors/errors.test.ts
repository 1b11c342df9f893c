import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  hasCode,
  InvalidOptionError,
  isSwitchyardError,
  SwitchyardError,
  show,
} from './index.js';

/** A second copy of the base, as another published package bundles it. */
function otherCopy(code: string): Error {
  const e = Object.assign(new Error('from another package'), { code });
  Object.defineProperty(e, Symbol.for('switchyard.error'), { value: true });
  return e;
}

class CustomStoreError extends SwitchyardError {
  constructor() {
    super('SWY_ERR_CACHE_STORE', 'store down');
  }
}

describe('SwitchyardError and InvalidOptionError', () => {
  it('name the option path and the rejected value', () => {
    const e = new InvalidOptionError('servers[2].weight', 'a positive integer', -1);
    expect([e.code, e.name, e.path, e.value, e.message]).toEqual([
      'SWY_ERR_INVALID_OPTION',
      'InvalidOptionError',
      'servers[2].weight',
      -1,
      'servers[2].weight: expected a positive integer, got -1',
    ]);
  });

  it('take a whole message when the expected-got form does not fit', () => {
    expect(new InvalidOptionError('x', '', 1, 'x: unknown option (known: a)').message).toBe(
      'x: unknown option (known: a)',
    );
  });

  it('match errors of every bundled copy by code, and subclasses by prototype', () => {
    expect(otherCopy('SWY_ERR_INVALID_OPTION')).toBeInstanceOf(SwitchyardError);
    expect(otherCopy('SWY_ERR_INVALID_OPTION')).toBeInstanceOf(InvalidOptionError);
    expect(otherCopy('SWY_ERR_HOOK')).not.toBeInstanceOf(InvalidOptionError);
    expect(new Error('plain')).not.toBeInstanceOf(SwitchyardError);
    expect(new CustomStoreError()).toBeInstanceOf(CustomStoreError);
    expect(new CustomStoreError()).toBeInstanceOf(SwitchyardError);
    expect(new InvalidOptionError('x', 'y', 1)).not.toBeInstanceOf(CustomStoreError);
  });

  it('lets internal checks match on code', () => {
    expect(hasCode(new CustomStoreError(), 'SWY_ERR_CACHE_STORE')).toBe(true);
    expect(hasCode(otherCopy('SWY_ERR_HOOK'), 'SWY_ERR_HOOK')).toBe(true);
    expect(hasCode(Object.assign(new Error('x'), { code: 'SWY_ERR_HOOK' }), 'SWY_ERR_HOOK')).toBe(false);
    expect(isSwitchyardError(undefined)).toBe(false);
  });

  it('keeps one table of codes, each with its class', () => {
    expect(ERROR_CODES.SWY_ERR_INVALID_OPTION.class).toBe('InvalidOptionError');
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^SWY_ERR_[A-Z_]+$/);
  });
});

describe('show', () => {
  it('renders a rejected value for a message', () => {
    expect([
      show('a'),
      show(1),
      show(10n),
      show(undefined),
      show(() => 1),
      show(/x/g),
      show({ a: 1 }),
    ]).toEqual(['"a"', '1', '10n', 'undefined', 'a function', '/x/g', '{"a":1}']);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(show(cyclic)).toBe('[object Object]');
  });
});

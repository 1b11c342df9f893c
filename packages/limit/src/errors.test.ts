import { describe, expect, it } from 'vitest';
import { InvalidOptionError, LimitStoreError, SwitchyardError } from './errors.js';

describe('errors', () => {
  it('carries stable codes and names the option path and value', () => {
    const e = new InvalidOptionError('req[0].burst', 'an integer >= 0', -1);
    expect(e).toBeInstanceOf(SwitchyardError);
    expect([e.code, e.name, e.path, e.value, e.message]).toEqual([
      'SWY_ERR_INVALID_OPTION',
      'InvalidOptionError',
      'req[0].burst',
      -1,
      'req[0].burst: expected an integer >= 0, got -1',
    ]);
  });

  it('says which store call failed, for which zones, with the cause', () => {
    const cause = new Error('ECONNRESET');
    const e = new LimitStoreError('acquire', ['addr', 'srv'], 'ECONNRESET', cause);
    expect([e.code, e.operation, e.zones, e.message, e.cause]).toEqual([
      'SWY_ERR_LIMIT_STORE',
      'acquire',
      ['addr', 'srv'],
      'limit store acquire (addr, srv): ECONNRESET',
      cause,
    ]);
  });
});

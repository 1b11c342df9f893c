import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { compileNginx } from '../nginx/index.js';
import type { RewriteRequest } from '../types.js';
import { createEngine } from './index.js';

const hostOf = compileNginx('return 200 "[$host]";', { serverName: 'srv' });

describe('$host from the Host header, as nginx reads r->headers_in.host', () => {
  it.each([
    ['the host key', { host: 'example.com' }, 'example.com'],
    ['without its port, lower-cased', { host: 'Example.COM:8080' }, 'example.com'],
    ['an IPv6 literal without its port', { host: '[::1]:80' }, '[::1]'],
    [
      'a Host key in another case, among other four-letter names',
      { Date: 'd', HOST: 'a.example' },
      'a.example',
    ],
    ['the lower-case host key before another spelling', { Host: 'other', host: 'b.example' }, 'b.example'],
    ['a list of one line', { host: ['c.example'] }, 'c.example'],
    ['server_name for an empty list', { host: [] }, 'srv'],
    ['server_name without the header', { Date: 'd' }, 'srv'],
  ])('reads %s', (_, headers, host) => {
    expect(hostOf.evaluate({ uri: '/', headers })).toEqual({
      action: 'return',
      status: 200,
      body: `[${host}]`,
    });
  });

  it('answers 400 to two Host lines, as nginx does ("client sent duplicate host header")', () => {
    expect(hostOf.evaluate({ uri: '/', headers: { host: ['a', 'b'] } })).toEqual({
      action: 'return',
      status: 400,
    });
  });
});

describe('a request evaluate cannot read', () => {
  it.each([
    ['no request', undefined],
    ['no uri', {}],
    ['a uri that is not a string', { uri: 5 }],
  ])('answers 400 to %s', (_, request) => {
    expect(hostOf.evaluate(request as unknown as RewriteRequest)).toStrictEqual({
      action: 'return',
      status: 400,
    });
  });

  it('answers 500 when reading the request throws, and traces the error', () => {
    const throwing = (thrown: unknown): RewriteRequest => ({
      uri: '/',
      headers: {
        get host(): string {
          throw thrown;
        },
      },
    });
    expect(hostOf.trace(throwing(new Error('boom')))).toStrictEqual({
      result: { action: 'return', status: 500 },
      steps: [{ kind: 'error', message: 'boom' }],
      cycles: 0,
    });
    expect(hostOf.trace(throwing('not an Error')).steps).toEqual([
      { kind: 'error', message: 'not an Error' },
    ]);
    expect(hostOf.evaluate(throwing(new Error('boom')))).toStrictEqual({ action: 'return', status: 500 });
  });
});

describe('engine options', () => {
  const message = (options: unknown): string => {
    try {
      createEngine({ rules: [], locations: [] }, options as never);
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  it('name the option that is unknown, or the options that are not an object', () => {
    expect(message({ bogus: 1 })).toBe(
      'bogus: unknown option (known: regexEngine, absoluteRedirect, portInRedirect, serverName, serverNameInRedirect)',
    );
    expect(message(5)).toBe('options: expected an object, got 5');
  });
});

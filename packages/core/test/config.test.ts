import { describe, expect, it } from 'vitest';
import { createProxy, createUpstream, InvalidOptionError } from '../src/index.js';

function thrown(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidOptionError) return err;
    throw err;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('options are validated when built', () => {
  it.each([
    [
      () =>
        createUpstream({
          name: 'api',
          servers: ['http://a:1', 'http://b:1', { url: 'http://c:1', weight: -1 }],
        }),
      'servers[2].weight: expected a positive integer, got -1',
    ],
    [
      () => createUpstream({ name: '', servers: ['http://a:1'] }),
      'name: expected a non-empty string, got ""',
    ],
    [
      () => createUpstream({ name: 'x', servers: [] }),
      'servers: expected a non-empty array of servers, got []',
    ],
    [
      () => createUpstream({ name: 'x', servers: ['ftp://a:1'] }),
      'servers[0]: expected an http:// or https:// URL, got "ftp://a:1"',
    ],
    [
      () => createUpstream({ name: 'x', servers: ['http://a:1/path'] }),
      'servers[0]: expected a URL with no path, query or credentials (scheme://host:port), got "http://a:1/path"',
    ],
    [
      () => createUpstream({ name: 'x', servers: [{ url: 'http://a:1', maxFails: 1.5 }] }),
      'servers[0].maxFails: expected a non-negative integer, got 1.5',
    ],
    [
      () => createUpstream({ name: 'x', servers: ['http://a:1', 'http://a:1'] }),
      'servers[1].url: expected a server not listed before, got "a:1"',
    ],
    [
      () => createUpstream({ name: 'x', servers: [{ url: 'http://a:1', wieght: 2 } as never] }),
      'servers[0].wieght: unknown option (known: url, weight, maxConns, maxFails, failTimeoutMs, backup, down, route, slowStartMs)',
    ],
    [
      () =>
        createProxy({ upstream: { name: 'x', servers: [{ url: 'http://a:1', backup: 'yes' as never }] } }),
      'upstream.servers[0].backup: expected a boolean, got "yes"',
    ],
    [
      () =>
        createProxy({
          upstream: { name: 'x', servers: ['http://a:1'] },
          nextUpstream: ['error', 'http_418' as never],
        }),
      'nextUpstream[1]: expected one of "error", "timeout", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404", "http_429", got "http_418"',
    ],
    [
      () => createProxy({ upstream: { name: 'x', servers: ['http://a:1'] }, connectTimeoutMs: 0 }),
      'connectTimeoutMs: expected a positive integer, got 0',
    ],
    [
      () => createProxy({ upstream: { name: 'x', servers: ['http://a:1'] }, host: 'upstream' as never }),
      'host: expected one of "preserve", "peer", got "upstream"',
    ],
    [
      () => createProxy({ upstream: { name: 'x', servers: ['http://a:1'] }, trustProxy: ['not an ip'] }),
      'trustProxy: expected addresses proxy-addr accepts (invalid IP address: not an ip), got ["not an ip"]',
    ],
  ])('rejects a bad option with its path and value (%#)', (build, message) => {
    const err = thrown(build);
    expect(err.message).toBe(message);
    expect(err.code).toBe('SWY_ERR_INVALID_OPTION');
  });

  it('keeps the bad value and the path on the error', () => {
    const err = thrown(() => createUpstream({ name: 'x', servers: [{ url: 'http://a:1', maxConns: -3 }] }));
    expect(err.path).toBe('servers[0].maxConns');
    expect(err.value).toBe(-3);
  });

  it('fills in nginx defaults', () => {
    const up = createUpstream({ name: 'd', servers: ['http://127.0.0.1'] });
    const peer = up.primaries[0];
    expect(peer?.id).toBe('127.0.0.1:80');
    expect(peer?.weight).toBe(1);
    expect(peer?.maxFails).toBe(1);
    expect(peer?.failTimeoutMs).toBe(10_000);
    expect(peer?.maxConns).toBe(0);
  });
});

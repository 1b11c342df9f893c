import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HookError, InvalidOptionError, type SwitchyardError, UpstreamError } from '../errors.js';
import {
  accessLogFields,
  accessLogLine,
  CHANNELS,
  type Logger,
  Observer,
  type ResponseRecord,
  resolveObserveOptions,
  type UpstreamTry,
  upstreamAddr,
  upstreamHeaderTime,
  upstreamResponseTime,
  upstreamStatus,
} from './observe.js';

/** A try that got a 200 head after `headerMs` and its last byte after `responseMs`. */
function ok(addr: string, headerMs: number, responseMs: number, upstream = 'u'): UpstreamTry {
  return {
    upstream,
    peer: addr,
    addr,
    status: 200,
    failure: 'none',
    headerMs,
    responseMs,
    bytesSent: 40,
    bytesReceived: 12,
  };
}

/** A try that got no response: `failure` after `responseMs`. */
function failed(
  addr: string,
  failure: UpstreamTry['failure'],
  responseMs: number,
  upstream = 'u',
): UpstreamTry {
  return {
    upstream,
    peer: addr,
    addr,
    status: 0,
    failure,
    headerMs: -1,
    responseMs,
    bytesSent: 0,
    bytesReceived: 0,
  };
}

const req = {
  method: 'GET',
  url: '/a?b=1',
  httpVersion: '1.1',
  socket: { remoteAddress: '127.0.0.9' },
} as unknown as IncomingMessage;

function record(over: Partial<ResponseRecord> = {}): ResponseRecord {
  return {
    req,
    method: 'GET',
    uri: '/a?b=1',
    upstream: 'u',
    status: 200,
    outcome: 'proxied',
    cacheStatus: undefined,
    tries: [ok('127.0.0.1:9001', 2, 3)],
    bytesSent: 12,
    requestMs: 4.4,
    ...over,
  };
}

/** A logger that records its calls as `[level, obj, msg]`. */
function recordingLogger(): Logger & { calls: Array<[string, object, string | undefined]> } {
  const calls: Array<[string, object, string | undefined]> = [];
  return {
    calls,
    info: (obj, msg) => calls.push(['info', obj, msg]),
    warn: (obj, msg) => calls.push(['warn', obj, msg]),
    error: (obj, msg) => calls.push(['error', obj, msg]),
    debug: (obj, msg) => calls.push(['debug', obj, msg]),
  };
}

describe('nginx variables from tries', () => {
  it('shows "-" for every variable when no peer was tried, as nginx logs a variable not found', () => {
    expect(upstreamAddr([])).toBe('-');
    expect(upstreamStatus([])).toBe('-');
    expect(upstreamResponseTime([])).toBe('-');
    expect(upstreamHeaderTime([])).toBe('-');
  });

  it('lists one attempt as nginx does', () => {
    const tries = [ok('127.0.0.1:9001', 12, 15)];
    expect(upstreamAddr(tries)).toBe('127.0.0.1:9001');
    expect(upstreamStatus(tries)).toBe('200');
    expect(upstreamResponseTime(tries)).toBe('0.015');
    expect(upstreamHeaderTime(tries)).toBe('0.012');
  });

  it('separates the attempts of one group with commas', () => {
    const tries = [failed('127.0.0.1:9001', 'error', 1), ok('127.0.0.1:9002', 2, 3)];
    expect(upstreamAddr(tries)).toBe('127.0.0.1:9001, 127.0.0.1:9002');
    expect(upstreamStatus(tries)).toBe('502, 200');
  });

  it('separates attempts in different groups with " : "', () => {
    const tries = [
      failed('127.0.0.1:9001', 'error', 1, 'a'),
      failed('127.0.0.1:9002', 'error', 1, 'a'),
      ok('127.0.0.1:9101', 1, 1, 'b'),
    ];
    expect(upstreamAddr(tries)).toBe('127.0.0.1:9001, 127.0.0.1:9002 : 127.0.0.1:9101');
    expect(upstreamStatus(tries)).toBe('502, 502 : 200');
    expect(upstreamResponseTime(tries)).toBe('0.001, 0.001 : 0.001');
  });

  it('writes 504 for an attempt that timed out and 502 for one that failed, as ngx_http_upstream_next stores them', () => {
    const tries = [failed('a:1', 'timeout', 1000), failed('b:1', 'error', 3), ok('c:1', 1, 2)];
    expect(upstreamStatus(tries)).toBe('504, 502, 200');
    expect(upstreamResponseTime(tries)).toBe('1.000, 0.003, 0.002');
  });

  it('shows the time to the failure as the header time of an attempt that got no head', () => {
    // nginx: header_time stays -1, and the variable falls back to response_time.
    const tries = [failed('a:1', 'timeout', 60_000), ok('b:1', 7, 9)];
    expect(upstreamHeaderTime(tries)).toBe('60.000, 0.007');
  });

  it('writes the peer status of an attempt passed on for its status', () => {
    const tries: UpstreamTry[] = [{ ...ok('a:1', 4, 5), status: 503, failure: 'status' }, ok('b:1', 1, 2)];
    expect(upstreamStatus(tries)).toBe('503, 200');
  });

  it('writes 502 for a resend on a kept-alive connection the peer had closed', () => {
    const tries = [failed('a:1', 'abandoned', 0), ok('a:1', 1, 2)];
    expect(upstreamStatus(tries)).toBe('502, 200');
  });

  it('writes "-" for an attempt the client left before a response came', () => {
    const tries = [failed('a:1', 'abandoned', 30)];
    expect(upstreamStatus(tries)).toBe('-');
    expect(upstreamResponseTime(tries)).toBe('-');
    expect(upstreamHeaderTime(tries)).toBe('-');
  });

  it('keeps the peer status of an attempt whose body was cut after the head', () => {
    const tries: UpstreamTry[] = [{ ...ok('a:1', 3, 50), failure: 'abandoned' }];
    expect(upstreamStatus(tries)).toBe('200');
    expect(upstreamResponseTime(tries)).toBe('0.050');
  });

  it('rounds to the millisecond and prints whole seconds', () => {
    const tries = [ok('a:1', 0.4, 1234.5678)];
    expect(upstreamHeaderTime(tries)).toBe('0.000');
    expect(upstreamResponseTime(tries)).toBe('1.235');
  });

  it('shows the group name as the address of "no live upstreams", with 502', () => {
    // What nginx logs: pc->name = peers->name, then ngx_http_upstream_next(NOLIVE).
    const tries = [failed('127.0.0.1:9001', 'error', 2), failed('backend', 'error', 0)];
    expect(upstreamAddr(tries)).toBe('127.0.0.1:9001, backend');
    expect(upstreamStatus(tries)).toBe('502, 502');
    expect(upstreamResponseTime(tries)).toBe('0.002, 0.000');
  });
});

describe('access log entries', () => {
  it('builds the structured entry the logger gets', () => {
    const r = record({ tries: [failed('127.0.0.1:9001', 'error', 1), ok('127.0.0.1:9002', 2, 3)] });
    expect(accessLogFields(r)).toEqual({
      req: { method: 'GET', url: '/a?b=1', remoteAddress: '127.0.0.9' },
      res: { statusCode: 200 },
      outcome: 'proxied',
      upstream: 'u',
      upstreamAddr: '127.0.0.1:9001, 127.0.0.1:9002',
      upstreamStatus: '502, 200',
      upstreamResponseTime: '0.001, 0.003',
      upstreamHeaderTime: '0.001, 0.002',
      upstreamCacheStatus: '-',
      bodyBytesSent: 12,
      responseTime: 4,
    });
  });

  it('writes an nginx-like line, with "-" for a cache hit that tried no peer', () => {
    expect(accessLogLine(record({ tries: [], cacheStatus: 'HIT', outcome: 'cache', requestMs: 1 }))).toBe(
      '127.0.0.9 "GET /a?b=1 HTTP/1.1" 200 12 rt=0.001 uaddr="-" us="-" urt="-" uht="-" ucs=HIT',
    );
  });
});

describe('resolveObserveOptions', () => {
  it('takes no options, a function and a pino-like logger', () => {
    expect(resolveObserveOptions({})).toEqual({ onResponse: undefined, logger: undefined });
    const onResponse = () => {};
    const logger = recordingLogger();
    expect(resolveObserveOptions({ onResponse, logger })).toEqual({ onResponse, logger });
  });

  it('refuses an onResponse that is no function, naming the option', () => {
    expect(() => resolveObserveOptions({ onResponse: 'log' })).toThrow(InvalidOptionError);
    expect(() => resolveObserveOptions({ onResponse: 'log' })).toThrow(/^onResponse: expected a function/);
  });

  it('refuses a logger without info, warn or error, or with a debug that is no function', () => {
    const noop = () => {};
    for (const bad of [
      true,
      [],
      { info: noop, warn: noop },
      { info: noop, warn: noop, error: noop, debug: 1 },
    ]) {
      expect(() => resolveObserveOptions({ logger: bad })).toThrow(/^logger: expected a logger/);
    }
  });
});

describe('Observer', () => {
  const subscriptions: Array<[string, (message: unknown, name: string | symbol) => void]> = [];
  afterEach(() => {
    for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
  });
  /** Subscribes to a channel until the test ends; returns the messages it gets. */
  function listen(name: string): unknown[] {
    const got: unknown[] = [];
    const fn = (message: unknown) => got.push(message);
    subscribe(name, fn);
    subscriptions.push([name, fn]);
    return got;
  }
  const options = (o: Partial<Parameters<typeof resolveObserveOptions>[0]> = {}) => resolveObserveOptions(o);

  it('records nothing when nothing is configured and nobody subscribed', () => {
    expect(new Observer(options(), vi.fn()).recording()).toBe(false);
  });

  it('records for onResponse, for a logger, and while someone subscribes to responseEnd', () => {
    expect(new Observer(options({ onResponse: () => {} }), vi.fn()).recording()).toBe(true);
    expect(new Observer(options({ logger: recordingLogger() }), vi.fn()).recording()).toBe(true);
    const o = new Observer(options(), vi.fn());
    listen(CHANNELS.responseEnd);
    expect(o.recording()).toBe(true);
    for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
    expect(o.recording()).toBe(false);
  });

  it('calls onResponse with the record', () => {
    const seen: ResponseRecord[] = [];
    const r = record();
    new Observer(options({ onResponse: (x: ResponseRecord) => seen.push(x) }), vi.fn()).finish(r);
    expect(seen).toEqual([r]);
  });

  it('reports a throwing onResponse as a HookError and throws nothing out', () => {
    const report = vi.fn<(err: SwitchyardError, req: IncomingMessage) => void>();
    const boom = new Error('boom');
    const o = new Observer(
      options({
        onResponse: () => {
          throw boom;
        },
      }),
      report,
    );
    expect(() => o.finish(record())).not.toThrow();
    expect(report).toHaveBeenCalledTimes(1);
    const [err, at] = report.mock.calls[0] ?? [];
    expect(err).toBeInstanceOf(HookError);
    expect(err?.code).toBe('SWY_ERR_HOOK');
    expect((err as HookError).hook).toBe('onResponse');
    expect(err?.cause).toBe(boom);
    expect(at).toBe(req);
  });

  it('reports a rejected onResponse promise as a HookError', async () => {
    const report = vi.fn<(err: SwitchyardError, req: IncomingMessage) => void>();
    const o = new Observer(options({ onResponse: async () => Promise.reject(new Error('later')) }), report);
    o.finish(record());
    await new Promise((resolve) => setImmediate(resolve));
    expect(report.mock.calls.map(([e]) => e.message)).toEqual(['onResponse threw: later']);
  });

  it('still logs and publishes after a throwing onResponse', () => {
    const logger = recordingLogger();
    const ends = listen(CHANNELS.responseEnd);
    const o = new Observer(
      options({
        onResponse: () => {
          throw new Error('x');
        },
        logger,
      }),
      vi.fn(),
    );
    o.finish(record());
    expect(logger.calls.map(([level]) => level)).toEqual(['info']);
    expect(ends).toHaveLength(1);
  });

  it('logs each level where the contract puts it', () => {
    const logger = recordingLogger();
    const o = new Observer(options({ logger }), vi.fn());
    const err = new UpstreamError('127.0.0.1:9001', 'connect ECONNREFUSED');
    o.start(req);
    o.chosen(req, 'u', '127.0.0.1:9001', 1);
    o.retry(req, 'u', '127.0.0.1:9001', 'error');
    o.error(err, req);
    o.finish(record());
    expect(logger.calls).toEqual([
      [
        'debug',
        { req: { method: 'GET', url: '/a?b=1' }, upstream: 'u', peer: '127.0.0.1:9001', attempt: 1 },
        'peer chosen',
      ],
      [
        'warn',
        { req: { method: 'GET', url: '/a?b=1' }, upstream: 'u', peer: '127.0.0.1:9001', reason: 'error' },
        'trying the next peer',
      ],
      ['error', { err, req: { method: 'GET', url: '/a?b=1' } }, err.message],
      ['info', accessLogFields(record()), 'request completed'],
    ]);
  });

  it('skips debug on a logger without it, and on a pino logger whose debug is off', () => {
    const { debug: _, ...noDebug } = recordingLogger();
    expect(() =>
      new Observer(options({ logger: noDebug }), vi.fn()).chosen(req, 'u', 'a:1', 1),
    ).not.toThrow();
    const quiet = { ...recordingLogger(), isLevelEnabled: (level: string) => level !== 'debug' };
    new Observer(options({ logger: quiet }), vi.fn()).chosen(req, 'u', 'a:1', 1);
    expect(quiet.calls).toEqual([]);
  });

  it('reports a throwing logger.info as a HookError, and drops a throwing logger.error', () => {
    const report = vi.fn<(err: SwitchyardError, req: IncomingMessage) => void>();
    const thrower = () => {
      throw new Error('disk full');
    };
    const o = new Observer(options({ logger: { info: thrower, warn: thrower, error: thrower } }), report);
    expect(() => o.finish(record())).not.toThrow();
    expect(() => o.error(new UpstreamError('a:1', 'x'), req)).not.toThrow();
    expect(report.mock.calls.map(([e]) => [e.code, (e as HookError).hook])).toEqual([
      ['SWY_ERR_HOOK', 'logger.info'],
    ]);
  });

  it('publishes each event to the subscribers of its channel', () => {
    const starts = listen(CHANNELS.requestStart);
    const chosen = listen(CHANNELS.peerChosen);
    const retries = listen(CHANNELS.retry);
    const ends = listen(CHANNELS.responseEnd);
    const o = new Observer(options(), vi.fn());
    const r = record();
    o.start(req);
    o.chosen(req, 'u', '127.0.0.1:9001', 1);
    o.retry(req, 'u', '127.0.0.1:9001', 'timeout');
    o.chosen(req, 'u', '127.0.0.1:9002', 2);
    o.finish(r);
    expect(starts).toEqual([{ req }]);
    expect(chosen).toEqual([
      { req, upstream: 'u', peer: '127.0.0.1:9001', attempt: 1 },
      { req, upstream: 'u', peer: '127.0.0.1:9002', attempt: 2 },
    ]);
    expect(retries).toEqual([{ req, upstream: 'u', peer: '127.0.0.1:9001', reason: 'timeout' }]);
    expect(ends).toEqual([{ record: r }]);
    expect((ends[0] as { record: ResponseRecord }).record).toBe(r);
  });

  it('names its channels switchyard:*', () => {
    expect(CHANNELS).toEqual({
      requestStart: 'switchyard:request:start',
      peerChosen: 'switchyard:peer:chosen',
      retry: 'switchyard:retry',
      responseEnd: 'switchyard:response:end',
    });
  });
});

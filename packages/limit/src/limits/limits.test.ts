import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError, type LimitStoreError } from '../errors.js';
import { memoryConnStore, memoryRateStore } from '../memory-store/index.js';
import type { ConnStore, LimitDecision, LimitRequest, RateStore } from '../types.js';
import { connZone, rateZone } from '../zone/index.js';
import { createLimits, type LimitsOptions } from './index.js';

const from = (remoteAddress: string, headers: Record<string, string> = {}): LimitRequest => ({
  headers,
  socket: { remoteAddress },
});

function sync(d: LimitDecision | Promise<LimitDecision>): LimitDecision {
  if (d instanceof Promise) throw new Error('expected a synchronous decision');
  return d;
}

/** A 1r/s zone on a clock the test moves. */
function setup(o: { burst?: number } = {}) {
  const clock = { t: 0 };
  const store = memoryRateStore({ now: () => clock.t });
  const zone = rateZone({ name: 'perip', rate: '1r/s', store });
  return { clock, store, zone, burst: o.burst ?? 0 };
}

describe('createLimits: limit_req', () => {
  it('passes, delays and refuses with $limit_req_status and counts per zone', () => {
    const { zone } = setup();
    const limits = createLimits({ req: [{ zone, burst: 1 }] });
    const a = sync(limits.check(from('1.1.1.1')));
    const b = sync(limits.check(from('1.1.1.1')));
    const c = sync(limits.check(from('1.1.1.1')));
    expect([a.action, a.limitReq, a.limitConn, a.status]).toEqual(['pass', 'PASSED', undefined, 0]);
    expect([b.action, b.limitReq, b.delayMs]).toEqual(['delay', 'DELAYED', 1000]);
    expect([c.action, c.limitReq, c.status]).toEqual(['reject', 'REJECTED', 503]);
    expect(limits.limitReqs()).toEqual({
      perip: { passed: 1, delayed: 1, rejected: 1, delayed_dry_run: 0, rejected_dry_run: 0 },
    });
  });

  it('answers limit_req_status for a refused request', () => {
    const { zone } = setup();
    const limits = createLimits({ req: [{ zone }], reqStatus: 429 });
    sync(limits.check(from('a')));
    expect(sync(limits.check(from('a'))).status).toBe(429);
  });

  it('in dry run never holds or refuses, accounting the would-be-delayed only', () => {
    const { zone, clock } = setup();
    const limits = createLimits({ req: [{ zone, burst: 2 }], reqDryRun: true });
    const seen = Array.from({ length: 6 }, () => sync(limits.check(from('a'))));
    expect(seen.map((d) => [d.action, d.limitReq])).toEqual([
      ['pass', 'PASSED'],
      ['pass', 'DELAYED_DRY_RUN'],
      ['pass', 'DELAYED_DRY_RUN'],
      ['pass', 'REJECTED_DRY_RUN'],
      ['pass', 'REJECTED_DRY_RUN'],
      ['pass', 'REJECTED_DRY_RUN'],
    ]);
    clock.t = 1500; // 2000 stored - 1500 drained + 1000 = 1500 <= 2000
    expect(sync(limits.check(from('a'))).limitReq).toBe('DELAYED_DRY_RUN');
    expect(limits.limitReqs().perip).toEqual({
      passed: 1,
      delayed: 0,
      rejected: 0,
      delayed_dry_run: 3,
      rejected_dry_run: 3,
    });
  });

  it('leaves a request with an empty or missing key unlimited and its status empty', () => {
    const zone = rateZone({ name: 'key', rate: '1r/s', key: (req) => req.headers['x-api-key'] as string });
    const limits = createLimits({ req: [{ zone }] });
    for (const headers of [{}, { 'x-api-key': '' }, {}] as Record<string, string>[]) {
      const d = sync(limits.check(from('a', headers)));
      expect([d.action, d.limitReq]).toEqual(['pass', undefined]);
    }
    expect(limits.limitReqs().key?.passed).toBe(0);
  });

  it('treats a key function that throws as an empty key', () => {
    const zone = rateZone({
      name: 'k',
      rate: 1,
      key: () => {
        throw new Error('boom');
      },
    });
    expect(sync(createLimits({ req: [{ zone }] }).check(from('a'))).limitReq).toBeUndefined();
  });

  it('checks zones of separate memory stores together, with the rollback rule', () => {
    const ip = rateZone({ name: 'ip', rate: 1, store: memoryRateStore({ now: () => 0 }) });
    const all = rateZone({
      name: 'all',
      rate: 1,
      key: () => 'all',
      store: memoryRateStore({ now: () => 0 }),
    });
    const limits = createLimits({ req: [{ zone: all, burst: 1, nodelay: true }, { zone: ip }] });
    expect(sync(limits.check(from('a'))).limitReq).toBe('PASSED');
    expect(sync(limits.check(from('a'))).limitReq).toBe('REJECTED'); // by ip: all keeps 1
    expect(sync(limits.check(from('b'))).limitReq).toBe('PASSED');
    expect(sync(limits.check(from('c'))).limitReq).toBe('REJECTED'); // by all
    expect(limits.limitReqs()).toMatchObject({
      ip: { passed: 2, rejected: 1 },
      all: { passed: 2, rejected: 1 },
    });
  });

  it('resets the counters of one zone or of all', () => {
    const { zone } = setup();
    const other = rateZone({ name: 'other', rate: 1 });
    const limits = createLimits({ req: [{ zone }, { zone: other }] });
    sync(limits.check(from('a')));
    limits.resetLimitReq('perip');
    expect(limits.limitReqs().perip?.passed).toBe(0);
    expect(limits.limitReqs().other?.passed).toBe(1);
    limits.resetLimitReq();
    expect(limits.limitReqs().other?.passed).toBe(0);
  });
});

describe('createLimits: limit_conn', () => {
  it('holds a slot until release(), which is idempotent', () => {
    const zone = connZone({ name: 'addr' });
    const limits = createLimits({ conn: [{ zone, max: 1 }] });
    const a = sync(limits.check(from('a')));
    const b = sync(limits.check(from('a')));
    expect([a.action, a.limitConn, a.limitReq]).toEqual(['pass', 'PASSED', undefined]);
    expect([b.action, b.limitConn, b.status]).toEqual(['reject', 'REJECTED', 503]);
    b.release();
    a.release();
    a.release();
    const c = sync(limits.check(from('a')));
    const d = sync(limits.check(from('a')));
    expect([c.limitConn, d.limitConn]).toEqual(['PASSED', 'REJECTED']);
    expect(limits.limitConns()).toEqual({ addr: { passed: 2, rejected: 2, rejected_dry_run: 0 } });
  });

  it('in dry run lets the request through uncounted', () => {
    const store = memoryConnStore();
    const zone = connZone({ name: 'addr', store });
    const limits = createLimits({ conn: [{ zone, max: 1 }], connDryRun: true, connStatus: 429 });
    const a = sync(limits.check(from('a')));
    const b = sync(limits.check(from('a')));
    expect([b.action, b.limitConn]).toEqual(['pass', 'REJECTED_DRY_RUN']);
    expect(store.count('addr', 'a')).toBe(1);
    a.release();
    b.release();
    expect(store.count('addr', 'a')).toBe(0);
  });

  it('gives back the slots of the earlier zones when a later zone is full', () => {
    const store = memoryConnStore();
    const srv = connZone({ name: 'srv', key: () => 'srv', store });
    const ip = connZone({ name: 'ip', store });
    const limits = createLimits({
      conn: [
        { zone: srv, max: 2 },
        { zone: ip, max: 1 },
      ],
    });
    sync(limits.check(from('a')));
    expect(sync(limits.check(from('a'))).limitConn).toBe('REJECTED');
    expect(store.count('srv', 'srv')).toBe(1);
    expect(sync(limits.check(from('b'))).limitConn).toBe('PASSED');
    expect(sync(limits.check(from('c'))).limitConn).toBe('REJECTED');
    expect(limits.limitConns()).toMatchObject({
      srv: { passed: 2, rejected: 1 },
      ip: { passed: 2, rejected: 1 },
    });
  });

  it('runs limit_req first: a request it refuses takes no slot and gets no $limit_conn_status', () => {
    const { zone } = setup();
    const store = memoryConnStore();
    const conns = connZone({ name: 'addr', store });
    const limits = createLimits({ req: [{ zone }], conn: [{ zone: conns, max: 5 }] });
    const a = sync(limits.check(from('a')));
    const b = sync(limits.check(from('a')));
    expect([a.limitReq, a.limitConn]).toEqual(['PASSED', 'PASSED']);
    expect([b.limitReq, b.limitConn, b.action]).toEqual(['REJECTED', undefined, 'reject']);
    expect(store.count('addr', 'a')).toBe(1);
  });

  it('takes the slot of a delayed request at once (nginx: after the delay)', () => {
    const { zone } = setup();
    const store = memoryConnStore();
    const limits = createLimits({
      req: [{ zone, burst: 1 }],
      conn: [{ zone: connZone({ name: 'c', store }), max: 1 }],
    });
    const a = sync(limits.check(from('a')));
    const b = sync(limits.check(from('a')));
    expect([b.action, b.limitReq, b.limitConn]).toEqual(['reject', 'DELAYED', 'REJECTED']);
    a.release();
  });
});

describe('createLimits: locations', () => {
  it('replaces the server list with a location own list and inherits each setting on its own', () => {
    const { zone } = setup();
    const strict = rateZone({ name: 'strict', rate: '1r/m' });
    const limits = createLimits({
      req: [{ zone, burst: 5, nodelay: true }],
      reqStatus: 429,
      locations: {
        '/login': { req: [{ zone: strict }] },
        '/dry': { reqDryRun: true },
        '/free': { req: [] },
      },
    });
    sync(limits.check(from('a'), '/login'));
    const refused = sync(limits.check(from('a'), '/login'));
    expect([refused.limitReq, refused.status]).toEqual(['REJECTED', 429]);
    // /login did not touch perip: the server's burst is whole.
    for (let i = 0; i < 6; i++) expect(sync(limits.check(from('a'))).action).toBe('pass');
    expect(sync(limits.check(from('a'))).action).toBe('reject');
    expect(sync(limits.check(from('a'), '/dry')).limitReq).toBe('REJECTED_DRY_RUN');
    expect(sync(limits.check(from('a'), '/free')).limitReq).toBeUndefined();
    expect(sync(limits.check(from('a'), '/unknown')).limitReq).toBe('REJECTED');
  });
});

describe('createLimits: options', () => {
  const zone = rateZone({ name: 'z', rate: 1 });
  const conn = connZone({ name: 'c' });
  const cases: [string, unknown, string][] = [
    ['a non-object', 5, 'options: expected an object, got 5'],
    ['an unknown key', { rate: 1 }, 'rate: unknown option (known:'],
    [
      'a negative burst',
      { req: [{ zone, burst: -1 }] },
      'req[0].burst: expected a non-negative integer, got -1',
    ],
    [
      'a fractional burst',
      { req: [{ zone, burst: 1.5 }] },
      'req[0].burst: expected a non-negative integer, got 1.5',
    ],
    ['delay with nodelay', { req: [{ zone, delay: 2, nodelay: true }] }, 'req[0].delay: expected no delay'],
    [
      'a string nodelay',
      { req: [{ zone, nodelay: 'yes' }] },
      'req[0].nodelay: expected a boolean, got "yes"',
    ],
    [
      'a missing zone',
      { req: [{ burst: 1 }] },
      'req[0].zone: expected a zone from rateZone(), got undefined',
    ],
    ['a conn zone in req', { req: [{ zone: conn }] }, 'req[0].zone: expected a zone from rateZone()'],
    [
      'a duplicate zone',
      { req: [{ zone }, { zone }] },
      'req[1].zone: expected a zone not already in this list, got "z"',
    ],
    ['an unknown req key', { req: [{ zone, brust: 1 }] }, 'req[0].brust: unknown option (known:'],
    ['a req that is no list', { req: { zone } }, 'req: expected an array'],
    [
      'a max of 0',
      { conn: [{ zone: conn, max: 0 }] },
      'conn[0].max: expected an integer from 1 to 65535, got 0',
    ],
    [
      'a max over 65535',
      { conn: [{ zone: conn, max: 70000 }] },
      'conn[0].max: expected an integer from 1 to 65535',
    ],
    ['a status of 200', { reqStatus: 200 }, 'reqStatus: expected an integer from 400 to 599, got 200'],
    ['a string dry run', { connDryRun: 'on' }, 'connDryRun: expected a boolean, got "on"'],
    ['a timeout of 0', { storeTimeoutMs: 0 }, 'storeTimeoutMs: expected a positive integer, got 0'],
    ['a string onError', { onError: 'log' }, 'onError: expected a function'],
    [
      'a bad location burst',
      { locations: { '/api': { req: [{ zone, burst: 'x' }] } } },
      'locations["/api"].req[0].burst: expected a non-negative integer, got "x"',
    ],
    [
      'a location key',
      { locations: { '/api': { failClosed: true } } },
      'locations["/api"].failClosed: unknown option (known:',
    ],
    [
      'two zones of one name',
      { req: [{ zone }, { zone: rateZone({ name: 'z', rate: 2 }) }] },
      'req[1].zone: expected a zone with a name of its own',
    ],
  ];
  it.each(cases)('refuses %s, naming the path and the value', (_what, options, message) => {
    const build = () => createLimits(options as LimitsOptions);
    expect(build).toThrow(InvalidOptionError);
    expect(build).toThrow(message);
  });

  it('refuses zones of one list on different non-memory stores', () => {
    const other: RateStore = { take: () => ({ action: 'pass', delayMs: 0, zone: -1, excess: 0 }) };
    const b = rateZone({ name: 'b', rate: 1, store: other });
    expect(() => createLimits({ req: [{ zone }, { zone: b }] })).toThrow(
      'req[1].zone: expected a zone on the same store',
    );
  });

  it.each([
    [{ name: '', rate: 1 }, 'name: expected a non-empty string'],
    [{ name: 'z', rate: '5r/h' }, 'rate: expected a rate'],
    [{ name: 'z', rate: 1, maxKeys: 0 }, 'maxKeys: expected a positive integer, got 0'],
    [{ name: 'z', rate: 1, key: 'ip' }, 'key: expected a function'],
    [{ name: 'z', rate: 1, store: {} }, 'store: expected a RateStore'],
    [{ name: 'z', rate: 1, size: '10m' }, 'size: unknown option (known:'],
  ])('rateZone refuses %o', (options, message) => {
    expect(() => rateZone(options as never)).toThrow(message);
  });

  it('connZone refuses a store without release', () => {
    expect(() => connZone({ name: 'c', store: { acquire: () => -1 } as never })).toThrow(
      'store: expected a ConnStore',
    );
  });
});

describe('createLimits: failing stores', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const throwing: RateStore = {
    take() {
      throw new Error('down');
    },
  };
  const rejecting: RateStore = { take: () => Promise.reject(new Error('down')) };
  const never: RateStore = { take: () => new Promise(() => {}) };

  function build(store: RateStore, o: Partial<LimitsOptions> = {}) {
    const errors: LimitStoreError[] = [];
    const zone = rateZone({ name: 'r', rate: 1, store });
    const limits = createLimits({ req: [{ zone }], onError: (e) => errors.push(e), ...o });
    return { limits, errors };
  }

  it('lets the request through when a store throws (fail open) and reports it', () => {
    const { limits, errors } = build(throwing);
    const d = sync(limits.check(from('a')));
    expect([d.action, d.limitReq]).toEqual(['pass', undefined]);
    expect(errors.map((e) => [e.code, e.operation, e.zones, e.message])).toEqual([
      ['SWY_ERR_LIMIT_STORE', 'take', ['r'], 'limit store take (r): down'],
    ]);
    expect(limits.storeErrors?.()).toEqual({ r: 1 });
    expect(limits.limitReqs().r).toMatchObject({ passed: 0, rejected: 0 });
  });

  it('refuses with the zone status when failClosed', async () => {
    const { limits } = build(rejecting, { failClosed: true, reqStatus: 429 });
    const d = await limits.check(from('a'));
    expect([d.action, d.status, d.limitReq]).toEqual(['reject', 429, 'REJECTED']);
    expect(limits.limitReqs().r?.rejected).toBe(1);
  });

  it('counts a store slower than storeTimeoutMs as failed, without waiting longer', async () => {
    vi.useFakeTimers();
    const { limits, errors } = build(never, { storeTimeoutMs: 50 });
    const pending = limits.check(from('a'));
    expect(pending).toBeInstanceOf(Promise);
    await vi.advanceTimersByTimeAsync(50);
    const d = await pending;
    expect([d.action, d.limitReq]).toEqual(['pass', undefined]);
    expect(errors[0]?.message).toBe('limit store take (r): no answer within 50 ms');
  });

  it('never rejects, even when onError throws', async () => {
    const { limits } = build(rejecting, {
      onError: () => {
        throw new Error('bad handler');
      },
    });
    await expect(limits.check(from('a'))).resolves.toMatchObject({ action: 'pass' });
  });

  it('reports a store answer it cannot read', () => {
    const { limits, errors } = build({ take: () => ({ action: 'maybe' }) as never });
    expect(sync(limits.check(from('a'))).action).toBe('pass');
    expect(errors).toHaveLength(1);
  });

  it('gives back slots a conn store took after the timeout', async () => {
    vi.useFakeTimers();
    const released: string[] = [];
    let answer: (n: number) => void = () => {};
    const slow: ConnStore = {
      acquire: () =>
        new Promise<number>((resolve) => {
          answer = resolve;
        }),
      release: (takes) => {
        released.push(...takes.map((t) => t.key));
      },
    };
    const zone = connZone({ name: 'c', store: slow });
    const limits = createLimits({ conn: [{ zone, max: 1 }], storeTimeoutMs: 20, failClosed: true });
    const pending = limits.check(from('a'));
    await vi.advanceTimersByTimeAsync(20);
    const d = await pending;
    expect([d.action, d.limitConn, d.status]).toEqual(['reject', 'REJECTED', 503]);
    answer(-1);
    await vi.advanceTimersByTimeAsync(0);
    expect(released).toEqual(['a']);
  });

  it('answers asynchronously with an async store and releases through it', async () => {
    const released: string[] = [];
    const store: ConnStore = {
      acquire: async () => -1,
      release: async (takes) => {
        released.push(...takes.map((t) => t.key));
      },
    };
    const limits = createLimits({ conn: [{ zone: connZone({ name: 'c', store }), max: 1 }] });
    const d = await limits.check(from('a'));
    expect(d.limitConn).toBe('PASSED');
    d.release();
    d.release();
    await Promise.resolve();
    expect(released).toEqual(['a']);
  });
});

import { conformance } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import {
  type ConnZone,
  connZone,
  createLimits,
  type KeyFunction,
  type LimitDecision,
  type LimitsLocationOptions,
  type LimitsOptions,
  memoryConnStore,
  memoryRateStore,
  type Rate,
  type RateZone,
  rateZone,
} from '../src/index.js';

/**
 * Replays every case recorded from nginx 1.22.1 (`conformance/limits.json`, re-recorded by
 * `node conformance/record.mjs --only limits`): each case's
 * nginx text is translated into `createLimits` options, its requests are checked at their
 * recorded send times on an injected clock, and every answer must match nginx's status,
 * X-Limit-Req, X-Limit-Conn and `slots`.
 *
 * Inputs taken from the recording (not outputs we compare): `timing.sentAt` (the clock of
 * each check) and, for limit_conn, `timing.answeredAt` (when a request that got in gives
 * its slot back: its response ended there). `slots` is derived: the limiter's `delayMs`
 * plus the backend's `?delay=` hold, over the case's `slotMs`, rounded, as the recorder
 * computed it from the answer time. `backend` is derived too: a refused request, or one a
 * `return` answers, never reaches it.
 */

interface Req {
  method: string;
  uri: string;
  from?: string;
  headers?: Record<string, string>;
}
interface Step {
  req?: Req;
  concurrent?: { at: number; req: Req }[];
}
interface Response {
  id: string;
  uri: string;
  from: string;
  requestHeaders?: Record<string, string>;
  status: number;
  xLimitReq: string | null;
  xLimitConn: string | null;
  backend: boolean;
  slots: number;
  timing: { sentAt: number; answeredAt: number };
}
interface Case {
  name: string;
  http: string[];
  server: string;
  slotMs: number;
  steps: Step[];
  responses: Response[];
}
interface Recording {
  generator: string;
  notes: string[];
  cases: Case[];
}

const recording = conformance<Recording>('limits.json');

/** A location of the nginx text: its prefix and whether `return` answers it. */
interface Location {
  prefix: string;
  returns: number | undefined;
}

/** nginx's `limit_req_zone` / `limit_conn_zone` key, for the variables the cases use. */
function keyFunction(key: string): KeyFunction | undefined {
  if (key === '$binary_remote_addr') return undefined; // the default: the client address
  if (key === '$http_x_api_key') return (req) => req.headers['x-api-key'] as string | undefined;
  if (!key.includes('$')) return () => key; // a constant, e.g. `global`
  throw new Error(`no translation for the key ${key}`);
}

/**
 * Translates a case's nginx text into options (the subset of directives the cases use):
 * directives outside any `location { }` are the server level, which a location inherits
 * unless it has its own (`createLimits` merges them as nginx does).
 */
function translate(c: Case, now: () => number) {
  const rateStore = memoryRateStore({ now });
  const connStore = memoryConnStore();
  const rateZones = new Map<string, RateZone>();
  const connZones = new Map<string, ConnZone>();
  for (const line of c.http) {
    const words = line.replace(/;$/, '').split(/\s+/);
    const [directive, key] = words as [string, string];
    const zoneArg = words.find((w) => w.startsWith('zone=')) as string;
    const name = zoneArg.slice('zone='.length).split(':')[0] as string;
    const k = keyFunction(key);
    if (directive === 'limit_req_zone') {
      const rate = (words.find((w) => w.startsWith('rate=')) as string).slice('rate='.length);
      rateZones.set(name, rateZone({ name, rate: rate as Rate, store: rateStore, ...(k && { key: k }) }));
    } else if (directive === 'limit_conn_zone') {
      connZones.set(name, connZone({ name, store: connStore, ...(k && { key: k }) }));
    } else {
      throw new Error(`no translation for ${line}`);
    }
  }

  /** One level's directives (server or location) as options. */
  const level = (text: string): LimitsLocationOptions & { returns?: number } => {
    const o: LimitsLocationOptions & { returns?: number } = {};
    const req: NonNullable<LimitsLocationOptions['req']>[number][] = [];
    const conn: NonNullable<LimitsLocationOptions['conn']>[number][] = [];
    for (const raw of text.split(';')) {
      const words = raw.trim().split(/\s+/);
      const [directive, ...args] = words as [string, ...string[]];
      switch (directive) {
        case 'limit_req': {
          const entry: { zone: RateZone; burst?: number; delay?: number; nodelay?: boolean } = {
            zone: rateZones.get((args.find((a) => a.startsWith('zone=')) as string).slice(5)) as RateZone,
          };
          for (const a of args) {
            if (a.startsWith('burst=')) entry.burst = Number(a.slice(6));
            else if (a.startsWith('delay=')) entry.delay = Number(a.slice(6));
            else if (a === 'nodelay') entry.nodelay = true;
          }
          req.push(entry);
          break;
        }
        case 'limit_conn':
          conn.push({ zone: connZones.get(args[0] as string) as ConnZone, max: Number(args[1]) });
          break;
        case 'limit_req_status':
          o.reqStatus = Number(args[0]);
          break;
        case 'limit_conn_status':
          o.connStatus = Number(args[0]);
          break;
        case 'limit_req_dry_run':
          o.reqDryRun = args[0] === 'on';
          break;
        case 'limit_conn_dry_run':
          o.connDryRun = args[0] === 'on';
          break;
        case 'return':
          o.returns = Number(args[0]);
          break;
        case 'proxy_pass':
        case 'add_header':
        case '':
          break;
        default:
          throw new Error(`no translation for ${raw.trim()}`);
      }
    }
    if (req.length > 0) o.req = req;
    if (conn.length > 0) o.conn = conn;
    return o;
  };

  const locations: Location[] = [];
  const options: LimitsOptions = { locations: {} };
  const blocks = /location\s+(\S+)\s*\{([^}]*)\}/g;
  for (const m of c.server.matchAll(blocks)) {
    const { returns, ...limits } = level(m[2] as string);
    locations.push({ prefix: m[1] as string, returns });
    (options.locations as Record<string, LimitsLocationOptions>)[m[1] as string] = limits;
  }
  Object.assign(options, level(c.server.replace(blocks, '')));
  return { options, locations };
}

/** nginx's prefix location match: the longest prefix. */
function locate(locations: Location[], uri: string): Location {
  const path = uri.split('?')[0] as string;
  const found = locations
    .filter((l) => path.startsWith(l.prefix))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0];
  if (found === undefined) throw new Error(`no location for ${uri}`);
  return found;
}

/** What we answer, in the recording's terms. */
interface Answer {
  status: number;
  xLimitReq: string | null;
  xLimitConn: string | null;
  backend: boolean;
  slots: number;
}

function replay(c: Case): { id: string; answer: Answer }[] {
  let clock = 0;
  const { options, locations } = translate(c, () => clock);
  const limits = createLimits(options);
  // Check in send order (a stable sort keeps the recorded order of equal times); a slot is
  // given back at the request's recorded answer time, before a check at that same ms (the
  // next request of a sequential step is sent once the answer arrived).
  const order = [...c.responses].sort((a, b) => a.timing.sentAt - b.timing.sentAt);
  const holding: { until: number; decision: LimitDecision }[] = [];
  const out: { id: string; answer: Answer }[] = [];
  for (const r of order) {
    clock = r.timing.sentAt;
    holding.sort((a, b) => a.until - b.until);
    while (holding.length > 0 && (holding[0] as { until: number }).until <= clock)
      holding.shift()?.decision.release();
    const location = locate(locations, r.uri);
    if (location.returns !== undefined) {
      // The rewrite phase's `return` answers before the preaccess phase: never limited.
      out.push({
        id: r.id,
        answer: { status: location.returns, xLimitReq: null, xLimitConn: null, backend: false, slots: 0 },
      });
      continue;
    }
    const decision = limits.check(
      { method: 'GET', url: r.uri, headers: lower(r.requestHeaders), socket: { remoteAddress: r.from } },
      location.prefix,
    );
    if (decision instanceof Promise) throw new Error('memory stores answer synchronously');
    const backendMs = Number(/[?&]delay=(\d+)/.exec(r.uri)?.[1] ?? 0);
    const refused = decision.action === 'reject';
    out.push({
      id: r.id,
      answer: {
        status: refused ? decision.status : 200,
        xLimitReq: decision.limitReq ?? null,
        xLimitConn: decision.limitConn ?? null,
        backend: !refused,
        slots: refused ? 0 : Math.round((decision.delayMs + backendMs) / c.slotMs),
      },
    });
    holding.push({ until: r.timing.answeredAt, decision });
  }
  return out.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
}

function lower(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

describe(`limits conformance (${recording.generator})`, () => {
  it('has the 23 recorded cases', () => {
    expect(recording.cases).toHaveLength(23);
  });

  for (const c of recording.cases) {
    it(`answers like nginx: ${c.name}`, () => {
      const expected = c.responses.map((r) => ({
        id: r.id,
        answer: {
          status: r.status,
          xLimitReq: r.xLimitReq,
          xLimitConn: r.xLimitConn,
          backend: r.backend,
          slots: r.slots,
        },
      }));
      expect(replay(c)).toEqual(expected);
    });
  }
});

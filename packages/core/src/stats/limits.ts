import { isObject } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import type { LimitConnCounts, LimitReqCounts, LimitZones } from './types.js';

/** One zone as the API and the metrics read it: its counters now, and how to zero them. */
export interface LimitZoneEntry<C> {
  /** The counters, every field a number (0 where the source gave none). */
  readonly counts: C;
  /** Zeroes this zone's counters; `undefined` when its source cannot. */
  readonly reset: (() => void) | undefined;
}

/** The limit zones of every source, read on each call (once per API request or scrape). */
export interface LimitTable {
  /** `limit_req` zones by name; of two sources with one zone name, the first listed. */
  reqs(): ReadonlyMap<string, LimitZoneEntry<LimitReqCounts>>;
  /** `limit_conn` zones by name, the same way. */
  conns(): ReadonlyMap<string, LimitZoneEntry<LimitConnCounts>>;
}

const LIMITS = 'an object with limitReqs() and limitConns() methods (a Limiter), or an array of them';
const ONE = 'an object with limitReqs() and limitConns() methods (a Limiter)';

const REQ_FIELDS = ['passed', 'delayed', 'rejected', 'delayed_dry_run', 'rejected_dry_run'] as const;
const CONN_FIELDS = ['passed', 'rejected', 'rejected_dry_run'] as const;

/**
 * Checks the `limits` option (one {@link LimitZones} or an array of them) and returns how
 * to read their zones merged by name. Zones are read again on each call, so zones a
 * limiter adds later show up; a read that does not give an object counts as no zones.
 */
export function limitsAt(path: string, value: unknown): LimitTable {
  const sources: LimitZones[] = [];
  if (value !== undefined) {
    const list = Array.isArray(value) ? value : [value];
    for (const [i, v] of list.entries()) {
      const at = Array.isArray(value) ? `${path}[${i}]` : path;
      if (!isObject(v) || typeof v.limitReqs !== 'function' || typeof v.limitConns !== 'function') {
        throw new InvalidOptionError(at, Array.isArray(value) ? ONE : LIMITS, v);
      }
      for (const k of ['resetLimitReq', 'resetLimitConn'] as const) {
        if (v[k] !== undefined && typeof v[k] !== 'function') {
          throw new InvalidOptionError(`${at}.${k}`, 'a function', v[k]);
        }
      }
      sources.push(v as unknown as LimitZones);
    }
  }
  return {
    reqs: () =>
      merge(
        sources,
        (s) => s.limitReqs(),
        REQ_FIELDS,
        (s) => s.resetLimitReq,
      ),
    conns: () =>
      merge(
        sources,
        (s) => s.limitConns(),
        CONN_FIELDS,
        (s) => s.resetLimitConn,
      ),
  };
}

function merge<C>(
  sources: readonly LimitZones[],
  read: (s: LimitZones) => unknown,
  fields: readonly string[],
  resetOf: (s: LimitZones) => ((zone?: string) => void) | undefined,
): Map<string, LimitZoneEntry<C>> {
  const map = new Map<string, LimitZoneEntry<C>>();
  for (const source of sources) {
    const zones = read(source);
    if (!isObject(zones)) continue;
    const reset = resetOf(source);
    for (const [zone, raw] of Object.entries(zones)) {
      if (map.has(zone)) continue;
      const counts: Record<string, number> = {};
      for (const f of fields) counts[f] = count(isObject(raw) ? raw[f] : undefined);
      map.set(zone, {
        counts: counts as C,
        reset: reset === undefined ? undefined : () => reset.call(source, zone),
      });
    }
  }
  return map;
}

/** A counter as shown: a finite number, else 0. */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

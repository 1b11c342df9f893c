import { isObject, knownKeys, oneOf } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { fmt, lowestLines, skipped } from '../explain/lines.js';
import { roundAmong, SwrrTable, Ties } from '../round-robin/swrr.js';
import type { Balancer, CandidateReport, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';

/**
 * Which moving average of the response time `least_time` compares, as NGINX Plus's
 * `least_time header | last_byte`:
 * - `'header'`: the time to the response head, `headerTimeMs` on the peer view when it has
 *   one (core's `Peer` does), otherwise `responseTimeMs`;
 * - `'lastByte'`: the time to the last byte, `responseTimeMs`.
 */
export type LeastTimeMeasure = 'header' | 'lastByte';

/** Options of {@link leastTime}. */
export interface LeastTimeOptions {
  /**
   * Which average response time to compare (NGINX Plus `header` / `last_byte`).
   * @default 'header'
   */
  measure?: LeastTimeMeasure;
  /**
   * Whether requests in flight count (NGINX Plus `inflight`): `true` scores
   * `time × (active + 1) / weight`, `false` scores `time / weight` and looks at
   * `active / weight` only to break ties.
   * @default true
   */
  inflight?: boolean;
}

/** Every key of {@link LeastTimeOptions}: any other is refused. */
const LEAST_TIME_KEYS = Object.keys({
  measure: true,
  inflight: true,
} satisfies Record<keyof LeastTimeOptions, true>);

/** A peer view that may carry the header-time average (core's `Peer` does). */
type TimedPeerView = PeerView & { readonly headerTimeMs?: number };

/**
 * The `least_time` score of one peer (lower is better): see {@link leastTime}.
 * `weight` is the weight to divide by (slow start applied by the caller).
 */
export function leastTimeScore(peer: PeerView, weight: number, header: boolean, inflight: boolean): number {
  const time = timeOf(peer, header);
  return inflight ? (time * (peer.active + 1)) / weight : time / weight;
}

/** The moving average `measure` selects: `headerTimeMs` when asked for and present, else `responseTimeMs`. */
export function timeOf(peer: PeerView, header: boolean): number {
  if (header) {
    const h = (peer as TimedPeerView).headerTimeMs;
    if (h !== undefined) return h;
  }
  return peer.responseTimeMs;
}

/**
 * Orders two candidates: by score, then by `active / weight` (cross-multiplied as
 * `least_conn` does). Negative when `a` is better, 0 when they tie.
 */
function compare(
  aScore: number,
  aActive: number,
  aWeight: number,
  bScore: number,
  bActive: number,
  bWeight: number,
): number {
  if (aScore !== bScore) return aScore < bScore ? -1 : 1;
  const a = aActive * bWeight;
  const b = bActive * aWeight;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * NGINX Plus `least_time`: the peer with the lowest average response time and the fewest
 * active requests, for its weight. Peers that tie take turns by smooth weighted round robin.
 *
 * NGINX Plus is closed source, so **the formula is ours**:
 *
 * ```
 * score = time × (active + 1) / weight      (inflight: true, the default)
 * score = time / weight                     (inflight: false)
 * ```
 *
 * `time` is the moving average chosen by `measure`. Why this product: a peer whose recent
 * requests took `time` ms and that already has `active` requests in flight shares itself
 * between them and the new one, so the new request's expected time grows like
 * `time × (active + 1)` (processor sharing); a weight says how much more capacity a peer
 * has, so it divides. The `+ 1` keeps an idle peer's score at its time rather than 0, so
 * idle peers still compare by speed. At equal times the score orders peers like
 * `least_conn`, at equal load like the fastest.
 *
 * Ties on the score are broken by `active / weight` (so that peers without a measurement
 * yet, all at time 0, are balanced like `least_conn`), then by smooth weighted round robin
 * among the peers still tied. A peer with no measurement (time 0) scores 0 and wins: a new
 * peer gets traffic at once and so gets measured.
 *
 * NGINX Plus's `inflight` makes incomplete requests count in the average itself; a
 * strategy here cannot see how long in-flight requests have run, so `inflight` counts them
 * through `active` instead.
 *
 * Slow start: the weight is {@link weightAt}`(peer, ctx.now)`. `failed(peer)` lowers the
 * effective weight used among ties, as round robin does. `explain()` reports each
 * candidate's score (lower wins) without changing any state.
 *
 * Cost: one scan of the peers per pick, which also lists the tied peers, so the round
 * among ties does not scan again; its state table is built once per `peers` array and
 * trusted without re-checking weights (see `Balancer.pick`).
 *
 * @example
 * ```ts
 * const lt = leastTime({ measure: 'lastByte' });
 * const peer = lt.pick(peers, { now: Date.now() });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#least_time
 */
export function leastTime(options: LeastTimeOptions = {}): Balancer {
  if (isObject(options)) knownKeys('', options, LEAST_TIME_KEYS);
  const { header, inflight } = parseLeastTimeOptions(options, 'leastTime');
  const table = new SwrrTable();
  const ties = new Ties();
  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const i = walkLeastTime(table, ties, header, inflight, peers, ctx, undefined);
      return i < 0 ? undefined : peers[i];
    },

    failed(peer: PeerView, peers: readonly PeerView[]): void {
      table.failed(peer, peers);
    },

    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      const candidates: CandidateReport[] = [];
      const i = walkLeastTime(table, new Ties(), header, inflight, peers, ctx, candidates);
      return { strategy: 'least-time', chosen: i < 0 ? undefined : peers[i], candidates };
    },
  };
}

/**
 * The one walk of `leastTime`: a scan for the best score that also lists the peers tied
 * with it, then the round among them. Returns the chosen index, or -1. With `out`,
 * nothing changes and each peer's report is pushed to it, in array order.
 */
function walkLeastTime(
  table: SwrrTable,
  ties: Ties,
  useHeader: boolean,
  countInflight: boolean,
  peers: readonly PeerView[],
  ctx: PickContext,
  out: CandidateReport[] | undefined,
): number {
  const tried = ctx.tried;
  const checkTried = tried !== undefined && tried.size > 0;
  const now = ctx.now;
  ties.fit(peers.length);
  const index = ties.index;
  const first = out?.length ?? 0;
  let best = -1;
  let bestScore = 0;
  let bestActive = 0;
  let bestWeight = 0;
  // One scan: the best, and the peers tied with it, by index: the best itself first when
  // it compares equal to itself (its score is not NaN), then each later tie in order.
  // `count > own` (ties after the best) is "many".
  let count = 0;
  let own = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i] as PeerView;
    // `available === true` first (see isAvailable in tables.ts), and weightAt(peer, now)
    // only for a peer with a slow start: both written out, as this loop runs for every peer.
    const available = peer.available;
    if ((available !== true && !available) || (checkTried && tried.has(peer.id))) {
      out?.push(skipped(peer, tried));
      continue;
    }
    const slowStartMs = now === undefined ? undefined : peer.slowStartMs;
    const w = slowStartMs !== undefined && slowStartMs > 0 ? weightAt(peer, now as number) : peer.weight;
    // leastTimeScore(peer, w, header, inflight), written out with the options in locals.
    let time = peer.responseTimeMs;
    if (useHeader) {
      const h = (peer as TimedPeerView).headerTimeMs;
      if (h !== undefined) time = h;
    }
    const active = peer.active;
    const score = countInflight ? (time * (active + 1)) / w : time / w;
    if (out !== undefined) {
      const measure = useHeader ? 'header time' : 'last-byte time';
      let reason = countInflight
        ? `score ${fmt(score)} = ${measure} ${fmt(time)} ms × (${active} active + 1) / weight ${fmt(w)}`
        : `score ${fmt(score)} = ${measure} ${fmt(time)} ms / weight ${fmt(w)}`;
      if (w < peer.weight) reason += ` (slow start: ${fmt(w)} of ${peer.weight})`;
      out.push({ id: peer.id, score, reason });
    }
    // A worse score: compare() would answer 1 (NaN scores take the long way below).
    if (score > bestScore && best >= 0) continue;
    const c = best < 0 ? -1 : compare(score, active, w, bestScore, bestActive, bestWeight);
    if (c < 0) {
      best = i;
      bestScore = score;
      bestActive = active;
      bestWeight = w;
      own = compare(score, active, w, score, active, w) === 0 ? 1 : 0;
      index[0] = i;
      count = own;
    } else if (c === 0) {
      index[count++] = i;
    }
  }
  if (best < 0) return -1;
  let chosen = best;
  const currents: number[] | undefined = out === undefined || count === own ? undefined : [];
  if (count !== own) chosen = roundAmong(table, peers, best, ties, count, now, currents);
  if (out !== undefined) lowestLines(out, first, peers, chosen, best, currents, 'worse');
  return chosen;
}

/** Validates {@link LeastTimeOptions} once, when the strategy is built. */
export function parseLeastTimeOptions(
  options: LeastTimeOptions,
  path: string,
): { header: boolean; inflight: boolean } {
  const measure = oneOf(`${path}.measure`, options.measure, ['header', 'lastByte'], 'header');
  const inflight = options.inflight ?? true;
  if (typeof inflight !== 'boolean') throw new InvalidOptionError(`${path}.inflight`, 'a boolean', inflight);
  return { header: measure === 'header', inflight };
}

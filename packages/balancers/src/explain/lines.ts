import type { CandidateReport, PeerView } from '../types.js';

/**
 * The words of `explain()` reports, shared by the strategies' walks. Internal to the
 * package: only `explain()` and the `Explanation` types are public.
 */

/** Whether the peer may be considered at all, and if not, why (for `explain()`). */
export function skipReason(
  peer: PeerView,
  tried: ReadonlySet<string> | undefined,
): 'unavailable' | 'tried' | undefined {
  if (!peer.available) return 'unavailable';
  if (tried?.has(peer.id)) return 'tried';
  return undefined;
}

/** The reason line for a skipped peer. */
export function skipLine(skipped: 'unavailable' | 'tried' | undefined): string {
  return skipped === 'tried' ? 'skipped: this request already tried it' : 'skipped: not available now';
}

/** The report of a peer the walk did not consider: unavailable, or tried by this request. */
export function skipped(peer: PeerView, tried: ReadonlySet<string> | undefined): CandidateReport {
  const why = skipReason(peer, tried);
  return { id: peer.id, skipped: why, reason: skipLine(why) };
}

/** A number for a reason line: integers as is, fractions to 3 significant decimals. */
export function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3)));
}

/** `current weight 3 = 1 + effective weight 2 (slow start: …)`: one peer's smooth weighting. */
export function currentLine(current: number, add: number, ramped: number, weight: number): string {
  return (
    `current weight ${fmt(current + add)} = ${fmt(current)} + effective weight ${fmt(add)}` +
    (ramped < weight ? ` (slow start: ${fmt(ramped)} of weight ${weight})` : '')
  );
}

/**
 * The end of the reason lines of a "lowest score wins" walk (least-conn, least-time): the
 * chosen peer, the peers that tied with it (with their round-robin current weights), and
 * the others, `worse` than the best (`higher` for a count). `first` is where the walk's
 * reports start in `out`, one per peer.
 */
export function lowestLines(
  out: CandidateReport[],
  first: number,
  peers: readonly PeerView[],
  chosen: number,
  best: number,
  currents: readonly number[] | undefined,
  worse: string,
): void {
  const chosenId = (peers[chosen] as PeerView).id;
  const bestId = (peers[best] as PeerView).id;
  for (let i = 0; i < peers.length; i++) {
    const c = out[first + i] as CandidateReport;
    if (c.skipped !== undefined) continue;
    const current = currents?.[i];
    if (current !== undefined) {
      c.reason += `; tied for the lowest, round robin current weight ${fmt(current)}`;
      c.reason += i === chosen ? ', the highest: chosen' : `, not higher than ${chosenId}`;
    } else if (i === chosen) {
      c.reason += '; the lowest: chosen';
    } else {
      c.reason += `; ${worse} than ${bestId}`;
    }
  }
}

// What the benches share about rounds of runs: the noise threshold, the error counts, and the
// ratio of one contender's CPU per request to another's, paired round by round.
import { fmt, median } from './stats.mjs';

/** A run during which the rest of the machine used more than this % of a core is noisy. */
export const NOISY_OTHER_LOAD = 25;

export function zeroCounts() {
  return { non2xx: 0, errors: 0, timeouts: 0 };
}

export function addCounts(a, r) {
  return { non2xx: a.non2xx + r.non2xx, errors: a.errors + r.errors, timeouts: a.timeouts + r.timeouts };
}

/** Per round: `s`'s CPU per request over `base`'s in the same round, and whether both runs were quiet. */
export function pairedRatios(s, base) {
  return s.runs.map((r, i) => {
    const b = base.runs[i];
    const ratio =
      Number.isFinite(r.cpuPerRequest) && Number.isFinite(b?.cpuPerRequest)
        ? r.cpuPerRequest / b.cpuPerRequest
        : null;
    const quiet = !(r.otherLoad > NOISY_OTHER_LOAD) && !(b?.otherLoad > NOISY_OTHER_LOAD);
    return { ratio, quiet };
  });
}

/**
 * `s`'s CPU per request against `base`'s: the median of the per-round ratios (a round's runs
 * are minutes apart at most, so a slow drift of the machine cancels out), over the quiet
 * rounds when there is one, else over all.
 */
export function ratioToBase(s, base) {
  const pairs = pairedRatios(s, base).filter((p) => p.ratio !== null);
  const quiet = pairs.filter((p) => p.quiet);
  const used = quiet.length > 0 ? quiet : pairs;
  return {
    ratio: median(used.map((p) => p.ratio)),
    rounds: used.length,
    quietOnly: quiet.length > 0,
    of: pairs.length,
  };
}

/** Which rounds a {@link ratioToBase} figure comes from; `weak` is added when it had fewer than 3. */
export function ratioBasis(r, weak = '') {
  if (r.rounds === 0) return 'no round';
  const note = r.rounds < 3 ? weak : '';
  return r.quietOnly
    ? `median of the per-round ratios of the ${r.rounds} quiet round(s) of ${r.of}${note}`
    : `median of the per-round ratios of all ${r.of} round(s); none was quiet${note}`;
}

export function rateText(rate) {
  return rate ? `rate capped at ${fmt(rate)} req/s` : 'no rate cap';
}

export function verdict(t) {
  if (t.met === null) return 'not evaluated';
  return t.met ? 'met' : 'NOT met';
}

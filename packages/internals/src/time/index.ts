/** The unit a plain number stands for: a JavaScript option in ms, an nginx value in s. */
export type TimeUnit = 'ms' | 's';

/** nginx time units, in ms (ngx_parse_time). */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  M: 2_592_000_000,
  y: 31_536_000_000,
};

const PART = /(\d+)(ms|s|m|h|d|w|M|y)?\s*/y;

/**
 * Reads an nginx time as milliseconds: text as nginx reads it (`10m`, `1h 30m`, `500ms`;
 * a bare `30` alone is 30 seconds), and a number as a count of `numberUnit`: a whole
 * number of seconds, or of milliseconds (a fraction of one dropped). `undefined` when the
 * value is not a time, is negative, or passes `Number.MAX_SAFE_INTEGER` ms (refused, not
 * rounded).
 * @example
 * ```ts
 * parseNginxTime('1h30m', 'ms'); // 5_400_000
 * parseNginxTime(30, 's'); // 30_000
 * ```
 * @see https://nginx.org/en/docs/syntax.html
 */
export function parseNginxTime(value: unknown, numberUnit: TimeUnit): number | undefined {
  if (typeof value === 'number') return numberMs(value, numberUnit);
  return typeof value === 'string' ? textMs(value.trim()) : undefined;
}

function numberMs(value: number, unit: TimeUnit): number | undefined {
  if (!(value >= 0) || (unit === 's' && !Number.isInteger(value))) return undefined;
  return safe(Math.floor(value * (UNIT_MS[unit] as number)));
}

function textMs(text: string): number | undefined {
  if (text === '') return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let parts = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== at) return undefined;
    const unit = m[2];
    // A bare number is seconds, and only allowed alone ("30", not "1m 30").
    if (unit === undefined && (parts > 0 || PART.lastIndex < text.length)) return undefined;
    total += Number(m[1]) * (UNIT_MS[unit ?? 's'] as number);
    parts++;
  }
  return safe(total);
}

function safe(ms: number): number | undefined {
  return Number.isSafeInteger(ms) ? ms : undefined;
}

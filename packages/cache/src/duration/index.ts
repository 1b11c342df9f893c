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
 * Reads an nginx time (`10m`, `1h 30m`, `500ms`, `30` = 30 s) as milliseconds; a number
 * is taken as milliseconds already. `undefined` when the text is not a time.
 * @example
 * ```ts
 * parseDuration('1h30m'); // 5_400_000
 * ```
 * @see https://nginx.org/en/docs/syntax.html
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let units = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== at) return undefined;
    const unit = m[2];
    // A bare number is seconds, and only allowed alone (nginx: "30", not "1m 30").
    if (unit === undefined && (units > 0 || PART.lastIndex < text.length)) return undefined;
    total += Number(m[1]) * (UNIT_MS[unit ?? 's'] as number);
    units++;
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

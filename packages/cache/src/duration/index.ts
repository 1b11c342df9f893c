import { parseNginxTime } from '@switchyard/internals';

/**
 * Reads an nginx time (`10m`, `1h 30m`, `500ms`, `30` = 30 s) as milliseconds; a number
 * is taken as milliseconds already, as every `…Ms` option of this package is (a fraction
 * of one is dropped). `undefined` when the value is not a time.
 * @example
 * ```ts
 * parseDuration('1h30m'); // 5_400_000
 * parseDuration(250); // 250
 * ```
 * @see https://nginx.org/en/docs/syntax.html
 */
export function parseDuration(value: string | number): number | undefined {
  return parseNginxTime(value, 'ms');
}

/**
 * Helpers for flat header lists (`[name, value, name, value, …]`), the form undici and
 * `writeHead` use and the cache stores.
 */

/** The first value of a header in a flat list, case-insensitive; `undefined` when absent. */
export function firstHeader(list: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return list[i + 1];
  }
  return undefined;
}

/** Every value of a header in a flat list, case-insensitive, in order. */
export function allHeaders(list: readonly string[], lowerName: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName)
      values.push(list[i + 1] as string);
  }
  return values;
}

/** A request header's value as one string (Node joins most repeated headers already). */
export function requestHeader(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  lowerName: string,
): string | undefined {
  const v = headers[lowerName];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

// Days in each month, for nginx's day check (29 February is checked on its own).
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digit at `i` (0-9), or -1. */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** Two digits at `i` as a number, or -1. */
function twoDigits(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/** Four digits at `i` as a number, or -1. */
function fourDigits(s: string, i: number): number {
  const a = twoDigits(s, i);
  const b = twoDigits(s, i + 2);
  return a < 0 || b < 0 ? -1 : a * 100 + b;
}

/**
 * nginx's month: known by its first letters only, the first in upper case
 * (`Dec`, `DEC` and `Dxx` are December; `dec` is nothing).
 */
function monthAt(s: string, i: number): number {
  switch (s[i]) {
    case 'J':
      return s[i + 1] === 'a' ? 0 : s[i + 2] === 'n' ? 5 : 6;
    case 'F':
      return 1;
    case 'M':
      return s[i + 2] === 'r' ? 2 : 4;
    case 'A':
      return s[i + 1] === 'p' ? 3 : 7;
    case 'S':
      return 8;
    case 'O':
      return 9;
    case 'N':
      return 10;
    case 'D':
      return 11;
    default:
      return -1;
  }
}

const MONTHS = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
const HTTP_DATE = new RegExp(
  `^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} ${MONTHS} \\d{4} ${TIME} GMT` +
    `|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTHS}-\\d{2} ${TIME} GMT` +
    `|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTHS} [ \\d]\\d ${TIME} \\d{4})$`,
  'i',
);

/**
 * Whether a field value is written in one of RFC 9110's three date formats exactly
 * (IMF-fixdate, rfc850-date, asctime-date), letters in any case: stricter than
 * {@link parseHttpDate}, which reads what nginx reads (`UTC`, missing commas, …).
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
export function isHttpDate(text: string): boolean {
  return HTTP_DATE.test(text.trim());
}

/**
 * Parses an HTTP-date exactly as nginx's `ngx_parse_http_time` does (Expires,
 * Last-Modified, If-Modified-Since); ms since the epoch, or `undefined` where nginx
 * answers `NGX_ERROR`. Its three forms, each strict in its own way:
 * - `Sun, 06 Nov 1994 08:49:37 GMT`: two-digit day, four-digit year, spaces only;
 * - `Sunday, 06-Nov-94 08:49:37 GMT`: dashes and a two-digit year (19xx from 70), only;
 * - `Sun Nov  6 08:49:37 1994`: asctime, no comma.
 * So `Expires: 0`, `06 Nov 94`, `06-Nov-1994` and `6 Nov 1994` are not dates, unlike
 * for `Date.parse`. What nginx does not check is not checked either: the weekday, the
 * zone name and anything after it (`UTC`, `gMT`, none: all read as GMT), and a month
 * past its first letters (`DEC`, `Dxx`).
 * @see https://github.com/nginx/nginx/blob/master/src/core/ngx_parse_time.c
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
export function parseHttpDate(text: string): number | undefined {
  // nginx receives header values without surrounding whitespace; so do we.
  const s = text.trim();
  const end = s.length;
  let fmt: 'rfc822' | 'rfc850' | 'isoc' | undefined;
  let p = 0;
  for (; p < end; p++) {
    if (s[p] === ',') break;
    if (s[p] === ' ') {
      fmt = 'isoc';
      break;
    }
  }
  for (p++; p < end; p++) if (s[p] !== ' ') break;
  if (end - p < 18) return undefined;

  let day = 0;
  if (fmt !== 'isoc') {
    day = twoDigits(s, p);
    if (day < 0) return undefined;
    p += 2;
    if (s[p] === ' ') {
      if (end - p < 18) return undefined;
      fmt = 'rfc822';
    } else if (s[p] === '-') {
      fmt = 'rfc850';
    } else {
      return undefined;
    }
    p++;
  }

  const month = monthAt(s, p);
  if (month < 0) return undefined;
  p += 3;
  if ((fmt === 'rfc822' && s[p] !== ' ') || (fmt === 'rfc850' && s[p] !== '-')) return undefined;
  p++;

  let year = 0;
  if (fmt === 'rfc822') {
    year = fourDigits(s, p);
    if (year < 0) return undefined;
    p += 4;
  } else if (fmt === 'rfc850') {
    year = twoDigits(s, p);
    if (year < 0) return undefined;
    year += year < 70 ? 2000 : 1900;
    p += 2;
  } else {
    if (s[p] === ' ') p++;
    day = digit(s, p++);
    if (day < 0) return undefined;
    if (s[p] !== ' ') {
      const d = digit(s, p++);
      if (d < 0) return undefined;
      day = day * 10 + d;
    }
    if (end - p < 14) return undefined;
  }

  if (s[p++] !== ' ') return undefined;
  const hour = twoDigits(s, p);
  if (hour < 0 || s[p + 2] !== ':') return undefined;
  const min = twoDigits(s, p + 3);
  if (min < 0 || s[p + 5] !== ':') return undefined;
  const sec = twoDigits(s, p + 6);
  if (sec < 0) return undefined;
  if (fmt === 'isoc') {
    if (s[p + 8] !== ' ') return undefined;
    year = fourDigits(s, p + 9);
    if (year < 0) return undefined;
  }

  if (hour > 23 || min > 59 || sec > 59) return undefined;
  if (day === 29 && month === 1) {
    if (year % 4 !== 0 || (year % 100 === 0 && year % 400 !== 0)) return undefined;
  } else if (day > (MONTH_DAYS[month] as number)) {
    return undefined;
  }
  // Day 0 is not refused: it is the last day of the month before, in nginx's arithmetic
  // as in Date.UTC. Date.UTC reads years 0-99 as 19xx, so count from 400 years later
  // (146097 days, a whole Gregorian cycle) and step back.
  return Date.UTC(year + 400, month, day, hour, min, sec) - GREGORIAN_CYCLE_MS;
}

const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;

/** Formats ms since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

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

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

// RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms.
const IMF = /^[A-Za-z]{3,9}, (\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2}|\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * Parses an HTTP-date strictly, as nginx's `ngx_parse_http_time` does (so `Expires: 0`
 * is not a date, unlike for `Date.parse`); ms since the epoch or `undefined`.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
export function parseHttpDate(text: string): number | undefined {
  const s = text.trim();
  let day: string;
  let mon: string;
  let year: string;
  let hh: string;
  let mm: string;
  let ss: string;
  let m = IMF.exec(s);
  if (m !== null) {
    [, day, mon, year, hh, mm, ss] = m as unknown as [string, string, string, string, string, string, string];
  } else {
    m = ASCTIME.exec(s);
    if (m === null) return undefined;
    [, mon, day, hh, mm, ss, year] = m as unknown as [string, string, string, string, string, string, string];
  }
  const month = MONTHS[mon.toLowerCase()];
  if (month === undefined) return undefined;
  let y = Number(year);
  // RFC 850 two-digit years (nginx: 19xx when ≥ 70).
  if (year.length === 2) y += y < 70 ? 2000 : 1900;
  const d = Number(day);
  const h = Number(hh);
  const mi = Number(mm);
  const se = Number(ss);
  if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) return undefined;
  return Date.UTC(y, month, d, h, mi, se);
}

/** Formats ms since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

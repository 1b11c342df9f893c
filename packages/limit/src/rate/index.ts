import { InvalidOptionError } from '../errors.js';

/**
 * A request rate as `limit_req_zone rate=` writes it: `'10r/s'`, `'30r/m'`, or a number of
 * requests per second.
 */
export type Rate = `${number}r/s` | `${number}r/m` | number;

const RATE = /^([0-9]+)r\/(s|m)$/;

/** The largest rate accepted, r/s: keeps nginx's integer arithmetic exact in doubles. */
const MAX_RATE = 1_000_000;

/**
 * Parses a rate into what nginx keeps: whole thousandths of a request per second
 * (`ctx->rate = rate * 1000 / scale`, scale 60 for `r/m`, the division truncating, so
 * `1r/m` is 16, not 16.67). A number is requests per second, truncated to thousandths.
 * Throws `InvalidOptionError` for anything else, as nginx refuses `invalid rate`.
 *
 * @example
 * parseRate('10r/s'); // 10000
 * parseRate('30r/m'); // 500
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html#limit_req_zone
 */
export function parseRate(rate: unknown, path = 'rate'): number {
  let milli = Number.NaN;
  if (typeof rate === 'string') {
    const m = RATE.exec(rate);
    if (m) {
      const n = Number(m[1]);
      // ngx_http_limit_req_zone(): rate * 1000 / scale in integers.
      if (n <= MAX_RATE * (m[2] === 'm' ? 60 : 1)) milli = Math.floor((n * 1000) / (m[2] === 'm' ? 60 : 1));
    }
  } else if (typeof rate === 'number' && Number.isFinite(rate) && rate <= MAX_RATE) {
    // The epsilon keeps 0.001 * 1000 = 0.9999… from truncating to 0.
    milli = Math.floor(rate * 1000 + 1e-6);
  }
  if (!(milli >= 1)) {
    throw new InvalidOptionError(path, `a rate like '10r/s' or '30r/m' (at least 0.001 r/s)`, rate);
  }
  return milli;
}

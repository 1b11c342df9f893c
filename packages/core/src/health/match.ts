import { oneOf } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';

/** A header condition of a `match` block. */
export type HeaderMatch =
  | {
      /** The header's name, any case. */
      name: string;
      /** `=` equal, `!=` not equal, `~` matches, `!~` does not match. */
      op: '=' | '!=' | '~' | '!~';
      /** A string for `=`/`!=`, a RegExp (or its source) for `~`/`!~`. */
      value: string | RegExp;
    }
  | {
      /** The header's name, any case. */
      name: string;
      /** `true`: the header must be present; `false`: absent. */
      present: boolean;
    };

/**
 * What a passing health-check response looks like (nginx `match` block).
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_hc_module.html#match
 */
export interface MatchOptions {
  /**
   * Statuses, in nginx's syntax: `'200'`, `'200 204'`, `'200-399'`, `'! 500'`,
   * `'! 400-599'`. @default '200-399'
   */
  status?: string;
  /** Conditions on headers; all must hold. */
  headers?: HeaderMatch[];
  /** A condition on the first 256 KB of the body. */
  body?: {
    /** `~` the body must match `pattern`, `!~` it must not. */
    op: '~' | '!~';
    /** A RegExp, or its source. */
    pattern: string | RegExp;
  };
}

/** A compiled `match` block. */
export interface Matcher {
  readonly readsBody: boolean;
  /** `undefined` when the response passes, else the rule that failed. */
  test(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: string,
  ): string | undefined;
}

function parseStatus(path: string, spec: string): (status: number) => boolean {
  let text = spec.trim();
  let negate = false;
  if (text.startsWith('!')) {
    negate = true;
    text = text.slice(1).trim();
  }
  const ranges: Array<[number, number]> = [];
  for (const part of text.split(/\s+/)) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(part);
    if (m === null)
      throw new InvalidOptionError(path, 'statuses like "200", "200 204", "200-399" or "! 500"', spec);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new InvalidOptionError(path, 'a range whose end is not below its start', spec);
    ranges.push([lo, hi]);
  }
  return (status) => {
    const hit = ranges.some(([lo, hi]) => status >= lo && status <= hi);
    return negate ? !hit : hit;
  };
}

function regex(path: string, v: unknown): RegExp {
  if (v instanceof RegExp) return v;
  if (typeof v === 'string') {
    try {
      return new RegExp(v);
    } catch {
      throw new InvalidOptionError(path, 'a valid regular expression', v);
    }
  }
  throw new InvalidOptionError(path, 'a RegExp or its source', v);
}

/** Compiles a `match` block once, when the health check is built. */
export function compileMatch(match: MatchOptions | undefined, path = 'match'): Matcher {
  const statusOk = parseStatus(`${path}.status`, match?.status ?? '200-399');
  const headerTests: Array<(h: Record<string, string | string[] | undefined>) => string | undefined> = [];
  for (const [i, h] of (match?.headers ?? []).entries()) {
    const at = `${path}.headers[${i}]`;
    if (typeof h?.name !== 'string' || h.name === '')
      throw new InvalidOptionError(`${at}.name`, 'a header name', h?.name);
    const name = h.name.toLowerCase();
    if ('present' in h) {
      headerTests.push((hs) =>
        (hs[name] !== undefined) === h.present
          ? undefined
          : `header ${name} ${h.present ? 'absent' : 'present'}`,
      );
      continue;
    }
    const { op } = h;
    if (op === '=' || op === '!=') {
      if (typeof h.value !== 'string') throw new InvalidOptionError(`${at}.value`, 'a string', h.value);
      const want = h.value;
      headerTests.push((hs) => {
        const got = hs[name];
        const value = Array.isArray(got) ? got.join(', ') : got;
        return (value === want) === (op === '=') ? undefined : `header ${name} ${op} ${want}`;
      });
    } else if (op === '~' || op === '!~') {
      const re = regex(`${at}.value`, h.value);
      headerTests.push((hs) => {
        const got = hs[name];
        const value = Array.isArray(got) ? got.join(', ') : got;
        const hit = value !== undefined && re.test(value);
        return hit === (op === '~') ? undefined : `header ${name} ${op} ${re.source}`;
      });
    } else oneOf(`${at}.op`, op, ['=', '!=', '~', '!~']);
  }
  let bodyTest: ((body: string) => string | undefined) | undefined;
  if (match?.body !== undefined) {
    const { op } = match.body;
    oneOf(`${path}.body.op`, op, ['~', '!~']);
    const re = regex(`${path}.body.pattern`, match.body.pattern);
    bodyTest = (body) => (re.test(body) === (op === '~') ? undefined : `body ${op} ${re.source}`);
  }
  return {
    readsBody: bodyTest !== undefined,
    test(status, headers, body) {
      if (!statusOk(status)) return `status ${status}`;
      for (const t of headerTests) {
        const failed = t(headers);
        if (failed !== undefined) return failed;
      }
      return bodyTest?.(body);
    },
  };
}

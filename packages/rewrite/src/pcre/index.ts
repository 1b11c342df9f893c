/**
 * nginx regexes are PCRE2 in its default (non-UTF, C-locale) mode, matched on bytes. This
 * module translates such a pattern into an equivalent JavaScript RegExp source (matched on
 * byte strings, see ../bytes) or RE2 source, and refuses what it cannot translate exactly,
 * so a difference shows up when the rules are built, never as a silently different match.
 *
 * Translated: `(?i)`/`(?s)`/`(?m)`/`(?x)` at the start of the pattern; named groups
 * `(?<n>…)`, `(?P<n>…)`, `(?'n'…)`; back-references `\1`, `\g{1}`, `\k<n>`, `(?P=n)`;
 * `$` (end or before a final newline), `\A`, `\z`, `\Z`; `.` (any byte but LF); PCRE's
 * `\s` (no U+00A0), `\h`, `\v`, `\R`, `\N`; `\Q…\E`; POSIX classes `[[:alpha:]]`; octal,
 * `\x{…}`, `\c`, `\e`, `\a`; comments `(?#…)`.
 *
 * Refused: inline options after the start, atomic groups, possessive quantifiers,
 * recursion, conditionals, `\K`, `\G`, `\p`, backtracking verbs, branch reset,
 * duplicate group names. With RE2 also look-arounds and back-references.
 */

/** A pattern that could not be translated; `offset` is where in the pattern. */
export class PcreTranslationError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/**
 * Which regex engine the translation is for.
 * @inline
 */
export type RegexDialect = 'js' | 're2';

/** A translated pattern. */
export interface TranslatedPattern {
  /** Source for `new RegExp(source, flags)` or `new RE2(source, flags)`. */
  source: string;
  /** `i` when caseless. */
  caseless: boolean;
  /** Number of capturing groups. */
  groups: number;
  /** Group names, indexed by group number (index 0 unused). */
  names: (string | undefined)[];
}

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\x0b\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Complements of the POSIX classes and of `\s`/`\h`/`\v` within bytes, for use inside `[…]`. */
function complement(ranges: string): string {
  const inSet = new Array<boolean>(256).fill(false);
  const re = /\\x([0-9a-f]{2})|\\(.)|(.)/gi;
  const atoms: number[] = [];
  const isRange: boolean[] = [];
  for (const m of ranges.matchAll(re)) {
    if (m[1] !== undefined) atoms.push(Number.parseInt(m[1], 16));
    else if (m[2] !== undefined) atoms.push(escapeValue(m[2]));
    else if (m[3] === '-' && atoms.length > 0) {
      isRange[atoms.length] = true;
    } else atoms.push((m[3] as string).charCodeAt(0));
  }
  for (let i = 0; i < atoms.length; i++) {
    const a = atoms[i] as number;
    if (isRange[i + 1] && i + 1 < atoms.length) {
      const b = atoms[i + 1] as number;
      for (let c = a; c <= b; c++) inSet[c] = true;
      i++;
    } else inSet[a] = true;
  }
  let out = '';
  for (let c = 0; c < 256; c++) {
    if (inSet[c]) continue;
    let d = c;
    while (d + 1 < 256 && !inSet[d + 1]) d++;
    out += d === c ? hex(c) : `${hex(c)}-${hex(d)}`;
    c = d;
  }
  return out;
}

function escapeValue(ch: string): number {
  switch (ch) {
    case 't':
      return 9;
    case 'n':
      return 10;
    case 'f':
      return 12;
    case 'r':
      return 13;
    default:
      return ch.charCodeAt(0);
  }
}

function hex(c: number): string {
  return `\\x${c.toString(16).padStart(2, '0')}`;
}

const SPACE = '\\t\\n\\x0b\\f\\r ';
const HSPACE = '\\t \\xa0';
const VSPACE = '\\n\\x0b\\f\\r\\x85';
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;

/** Options of {@link translatePcre}. */
export interface TranslateOptions {
  /** nginx's `~*`: match case-insensitively. */
  caseless?: boolean;
  /** The engine the source is for. @default 'js' */
  dialect?: RegexDialect;
}

/**
 * Translates a PCRE pattern (a byte string) into a JavaScript or RE2 source that matches
 * the same byte strings, or throws {@link PcreTranslationError}.
 */
export function translatePcre(pattern: string, options: TranslateOptions = {}): TranslatedPattern {
  const dialect = options.dialect ?? 'js';
  let caseless = options.caseless ?? false;
  let dotall = false;
  let multiline = false;
  let extended = false;
  let i = 0;

  // Option settings at the very start apply to the whole pattern.
  for (;;) {
    const m = /^\(\?([imsx]*)(?:-([imsx]*))?\)/.exec(pattern.slice(i));
    if (m === null || m[0] === '(?)') break;
    for (const f of m[1] ?? '') {
      if (f === 'i') caseless = true;
      else if (f === 's') dotall = true;
      else if (f === 'm') multiline = true;
      else extended = true;
    }
    for (const f of m[2] ?? '') {
      if (f === 'i') caseless = options.caseless ?? false;
      else if (f === 's') dotall = false;
      else if (f === 'm') multiline = false;
      else extended = false;
    }
    i += m[0].length;
  }

  // Count capturing groups first: "\10" is a back-reference only when group 10 exists.
  const totalGroups = countGroups(pattern);
  const names: (string | undefined)[] = [undefined];
  const seen = new Set<string>();
  let out = '';
  let groups = 0;
  let atom = false; // the previous token can take a quantifier
  let quantified = false; // the previous token was a quantifier

  const fail = (message: string, at = i): never => {
    throw new PcreTranslationError(message, at);
  };
  const js = dialect === 'js';
  const noRe2 = (what: string, at: number) => {
    if (!js) fail(`${what} is not supported by the RE2 engine`, at);
  };

  const literal = (c: number): string => {
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
      return String.fromCharCode(c);
    }
    if (c === 0x20 || c === 0x5f || c === 0x2d || c === 0x2c || c === 0x3a || c === 0x3d || c === 0x2f) {
      return c === 0x2d ? '\\-' : String.fromCharCode(c);
    }
    return hex(c);
  };

  /** Reads an escape that denotes one byte; undefined when it is not such an escape. */
  const byteEscape = (): number | undefined => {
    const e = pattern[i + 1];
    switch (e) {
      case 't':
        i += 2;
        return 9;
      case 'n':
        i += 2;
        return 10;
      case 'r':
        i += 2;
        return 13;
      case 'f':
        i += 2;
        return 12;
      case 'e':
        i += 2;
        return 27;
      case 'a':
        i += 2;
        return 7;
      case 'c': {
        const x = pattern.charCodeAt(i + 2);
        if (Number.isNaN(x) || x > 0x7f) fail('\\c must be followed by an ASCII character');
        i += 3;
        return (x >= 0x61 && x <= 0x7a ? x - 32 : x) ^ 0x40;
      }
      case 'x': {
        const braced = /^\{([0-9A-Fa-f]+)\}/.exec(pattern.slice(i + 2));
        if (braced !== null) {
          const v = Number.parseInt(braced[1] as string, 16);
          if (v > 0xff) fail('a character code above \\xff cannot occur in bytes');
          i += 2 + braced[0].length;
          return v;
        }
        const h = /^[0-9A-Fa-f]{0,2}/.exec(pattern.slice(i + 2))?.[0] ?? '';
        i += 2 + h.length;
        return h === '' ? 0 : Number.parseInt(h, 16);
      }
      case 'o': {
        const braced = /^\{([0-7]+)\}/.exec(pattern.slice(i + 2));
        if (braced === null) fail('\\o must be followed by {octal digits}');
        const v = Number.parseInt((braced as RegExpExecArray)[1] as string, 8);
        if (v > 0xff) fail('a character code above \\377 cannot occur in bytes');
        i += 2 + (braced as RegExpExecArray)[0].length;
        return v;
      }
      case '0': {
        const o = /^0[0-7]{0,2}/.exec(pattern.slice(i + 1))?.[0] as string;
        i += 1 + o.length;
        return Number.parseInt(o, 8);
      }
      default:
        return undefined;
    }
  };

  const classBody = (): string => {
    // At "[" already consumed by the caller; i points after "[" (and "^").
    let body = '';
    let first = true;
    let prevAtom = -1; // last single byte, for ranges
    let pendingRange = false;
    const addAtom = (c: number) => {
      if (pendingRange) {
        if (prevAtom < 0 || c < prevAtom) fail('range out of order in character class');
        body += `-${literal(c)}`;
        pendingRange = false;
        prevAtom = -1;
        return;
      }
      body += literal(c);
      prevAtom = c;
    };
    const addSet = (set: string) => {
      if (pendingRange) {
        body += '\\-';
        pendingRange = false;
      }
      body += set;
      prevAtom = -1;
    };
    for (;;) {
      if (i >= pattern.length) fail('missing terminating ] for character class');
      const ch = pattern[i] as string;
      if (ch === ']' && !first) {
        i++;
        if (pendingRange) body += '\\-';
        return body;
      }
      first = false;
      if (ch === '[') {
        const posix = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(i));
        if (posix !== null) {
          const set = POSIX[posix[2] as string];
          if (set === undefined) fail(`unknown POSIX class name "${posix[2]}"`);
          addSet(posix[1] === '^' ? complement(set as string) : (set as string));
          i += posix[0].length;
          continue;
        }
        if (/^\[[.=]/.test(pattern.slice(i))) fail('POSIX collating elements are not supported');
        addAtom(0x5b);
        i++;
        continue;
      }
      if (ch === '-' && prevAtom >= 0 && !pendingRange && pattern[i + 1] !== ']') {
        pendingRange = true;
        i++;
        continue;
      }
      if (ch === '\\') {
        const e = pattern[i + 1];
        if (e === undefined) fail('\\ at end of pattern');
        if (e === 'Q') {
          const end = pattern.indexOf('\\E', i + 2);
          const text = end < 0 ? pattern.slice(i + 2) : pattern.slice(i + 2, end);
          for (let k = 0; k < text.length; k++) addAtom(text.charCodeAt(k));
          i = end < 0 ? pattern.length : end + 2;
          continue;
        }
        if (e === 'E') {
          i += 2;
          continue;
        }
        const sets: Record<string, string> = {
          d: '0-9',
          D: complement('0-9'),
          w: POSIX.word as string,
          W: complement(POSIX.word as string),
          s: SPACE,
          S: complement(SPACE),
          h: HSPACE,
          H: complement(HSPACE),
          v: VSPACE,
          V: complement(VSPACE),
        };
        const set = sets[e as string];
        if (set !== undefined) {
          addSet(set);
          i += 2;
          continue;
        }
        if (e === 'b') {
          addAtom(8);
          i += 2;
          continue;
        }
        const b = byteEscape();
        if (b !== undefined) {
          addAtom(b);
          continue;
        }
        if (/[A-Za-z0-9]/.test(e as string)) fail(`unsupported escape \\${e} in character class`);
        addAtom((e as string).charCodeAt(0));
        i += 2;
        continue;
      }
      addAtom(ch.charCodeAt(0));
      i++;
    }
  };

  while (i < pattern.length) {
    const ch = pattern[i] as string;
    const start = i;

    if (extended) {
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v') {
        i++;
        continue;
      }
      if (ch === '#') {
        const nl = pattern.indexOf('\n', i);
        i = nl < 0 ? pattern.length : nl + 1;
        continue;
      }
    }

    // Quantifiers.
    if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i)))) {
      if (quantified && ch === '+') fail('possessive quantifiers are not supported');
      if (quantified && ch === '?') {
        out += '?';
        i++;
        quantified = false;
        continue;
      }
      if (!atom) fail('quantifier does not follow a repeatable item');
      if (ch === '{') {
        const q = /^\{\d+(,\d*)?\}/.exec(pattern.slice(i))?.[0] as string;
        out += q;
        i += q.length;
      } else {
        out += ch;
        i++;
      }
      atom = false;
      quantified = true;
      continue;
    }
    quantified = false;

    switch (ch) {
      case '\\': {
        const e = pattern[i + 1];
        if (e === undefined) fail('\\ at end of pattern');
        atom = true;
        if (e === 'Q') {
          const end = pattern.indexOf('\\E', i + 2);
          const text = end < 0 ? pattern.slice(i + 2) : pattern.slice(i + 2, end);
          i = end < 0 ? pattern.length : end + 2;
          if (text.length === 0) {
            atom = false;
            continue;
          }
          // A quantifier after \E applies to the last byte, as each byte is one atom.
          for (let k = 0; k < text.length; k++) out += literal(text.charCodeAt(k));
          continue;
        }
        if (e === 'E') {
          i += 2;
          atom = false;
          continue;
        }
        const simple: Record<string, string> = {
          d: '\\d',
          D: '\\D',
          w: '\\w',
          W: '\\W',
          s: `[${SPACE}]`,
          S: `[^${SPACE}]`,
          h: `[${HSPACE}]`,
          H: `[^${HSPACE}]`,
          v: `[${VSPACE}]`,
          V: `[^${VSPACE}]`,
          R: `(?:\\r\\n|[${VSPACE}])`,
        };
        const s = simple[e as string];
        if (s !== undefined) {
          out += s;
          i += 2;
          continue;
        }
        if (e === 'N' && pattern[i + 2] !== '{') {
          out += '[^\\n]';
          i += 2;
          continue;
        }
        if (e === 'b' || e === 'B') {
          out += `\\${e}`;
          i += 2;
          atom = false;
          continue;
        }
        if (e === 'A') {
          out += js ? '^' : '\\A';
          i += 2;
          atom = false;
          continue;
        }
        if (e === 'z') {
          out += js ? '$' : '\\z';
          i += 2;
          atom = false;
          continue;
        }
        if (e === 'Z') {
          out += js ? '(?=\\n?$)' : '(?:\\n?\\z)';
          i += 2;
          atom = false;
          continue;
        }
        // Back-references.
        let ref: string | number | undefined;
        if (e === 'g') {
          const m = /^\\g(?:\{(-?\d+)\}|(-?\d+)|\{([A-Za-z_]\w*)\})/.exec(pattern.slice(i));
          if (m === null) fail('\\g is not followed by a group reference');
          const num = (m as RegExpExecArray)[1] ?? (m as RegExpExecArray)[2];
          if (num !== undefined) {
            const n = Number(num);
            ref = n < 0 ? groups + 1 + n : n;
          } else ref = (m as RegExpExecArray)[3];
          i += (m as RegExpExecArray)[0].length;
        } else if (e === 'k') {
          const m = /^\\k(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|\{([A-Za-z_]\w*)\})/.exec(pattern.slice(i));
          if (m === null) fail('\\k is not followed by a group name');
          ref = (m as RegExpExecArray)[1] ?? (m as RegExpExecArray)[2] ?? (m as RegExpExecArray)[3];
          i += (m as RegExpExecArray)[0].length;
        } else if (e !== undefined && e >= '1' && e <= '9') {
          const digits = /^\d+/.exec(pattern.slice(i + 1))?.[0] as string;
          const n = Number(digits);
          if (digits.length === 1 || n <= totalGroups) {
            ref = n;
            i += 1 + digits.length;
          } else {
            const oct = /^[0-7]{1,3}/.exec(digits)?.[0];
            if (oct === undefined) fail(`reference to non-existent subpattern \\${digits}`);
            out += literal(Number.parseInt(oct as string, 8) & 0xff);
            i += 1 + (oct as string).length;
            continue;
          }
        }
        if (ref !== undefined) {
          noRe2('a back-reference', start);
          if (typeof ref === 'number') {
            if (ref < 1 || ref > totalGroups) fail(`reference to non-existent subpattern ${ref}`, start);
            out += `(?:\\${ref})`;
          } else {
            out += `\\k<${ref}>`;
          }
          continue;
        }
        const b = byteEscape();
        if (b !== undefined) {
          out += literal(b);
          continue;
        }
        if (/[A-Za-z0-9]/.test(e as string)) fail(`unsupported escape \\${e}`);
        out += literal((e as string).charCodeAt(0));
        i += 2;
        continue;
      }
      case '.':
        out += dotall ? '[\\s\\S]' : '[^\\n]';
        i++;
        atom = true;
        continue;
      case '^':
        out += multiline ? (js ? '(?<![^\\n])' : '(?m:^)') : '^';
        i++;
        atom = false;
        continue;
      case '$':
        // The RegExp never gets the m flag: its ^ and $ are the input's start and end.
        if (multiline) out += js ? '(?![^\\n])' : '(?m:$)';
        else out += js ? '(?=\\n?$)' : '(?:\\n?\\z)';
        i++;
        atom = false;
        continue;
      case '[': {
        i++;
        let negate = false;
        if (pattern[i] === '^') {
          negate = true;
          i++;
        }
        const body = classBody();
        out += `[${negate ? '^' : ''}${body}]`;
        atom = true;
        continue;
      }
      case '(': {
        atom = false;
        if (pattern[i + 1] === '*') fail('backtracking control verbs are not supported');
        if (pattern[i + 1] !== '?') {
          groups++;
          names.push(undefined);
          out += '(';
          i++;
          continue;
        }
        const rest = pattern.slice(i + 2);
        const named = /^(?:P?<([^>]*)>|'([^']*)')/.exec(rest);
        if (named !== null && !/^<[=!]/.test(rest)) {
          const name = (named[1] ?? named[2]) as string;
          if (!NAME.test(name)) fail(`invalid group name "${name}"`);
          if (seen.has(name)) fail(`two named subpatterns have the same name "${name}"`);
          seen.add(name);
          groups++;
          names.push(name);
          out += js ? `(?<${name}>` : `(?P<${name}>`;
          i += 2 + named[0].length;
          continue;
        }
        const c = rest[0];
        if (c === ':') {
          out += '(?:';
          i += 3;
          continue;
        }
        if (c === '=' || c === '!') {
          noRe2('a look-ahead', start);
          out += `(?${c}`;
          i += 3;
          continue;
        }
        if (rest.startsWith('<=') || rest.startsWith('<!')) {
          noRe2('a look-behind', start);
          out += `(?${rest.slice(0, 2)}`;
          i += 4;
          continue;
        }
        if (c === '#') {
          const end = pattern.indexOf(')', i);
          if (end < 0) fail('missing ) after (?# comment');
          i = end + 1;
          continue;
        }
        const backref = /^P=([A-Za-z_]\w*)\)/.exec(rest);
        if (backref !== null) {
          noRe2('a back-reference', start);
          out += `\\k<${backref[1]}>`;
          i += 2 + backref[0].length;
          atom = true;
          continue;
        }
        const scoped = /^([imsx]*)(?:-([imsx]*))?([:)])/.exec(rest);
        if (scoped !== null && scoped[0] !== ')') {
          const on = scoped[1] ?? '';
          const off = scoped[2] ?? '';
          const unchanged = ![...on].some((f) => !isSet(f)) && ![...off].some((f) => isSet(f));
          if (!unchanged) {
            fail('inline options are supported only at the start of the pattern');
          }
          // Options that are already in force change nothing.
          if (scoped[3] === ':') out += '(?:';
          i += 2 + scoped[0].length;
          continue;
        }
        if (c === '>') fail('atomic groups are not supported');
        if (c === '|') fail('branch reset groups are not supported');
        if (c === '(') fail('conditional groups are not supported');
        fail('recursion and subroutine calls are not supported');
        break;
      }
      case ')':
        out += ')';
        i++;
        atom = true;
        continue;
      case '|':
        out += '|';
        i++;
        atom = false;
        continue;
      default:
        out += literal(ch.charCodeAt(0));
        i++;
        atom = true;
    }
  }

  function isSet(f: string): boolean {
    return f === 'i' ? caseless : f === 's' ? dotall : f === 'm' ? multiline : extended;
  }

  return { source: out, caseless, groups, names };
}

/** Counts capturing groups, skipping escapes and character classes. */
function countGroups(pattern: string): number {
  let n = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      if (pattern[i + 1] === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        i = end < 0 ? pattern.length : end + 1;
      } else i++;
      continue;
    }
    if (ch === '[') {
      i++;
      if (pattern[i] === '^') i++;
      if (pattern[i] === ']') i++;
      while (i < pattern.length && pattern[i] !== ']') {
        if (pattern[i] === '\\') i++;
        else if (pattern[i] === '[' && /^\[:\^?[a-z]+:\]/.test(pattern.slice(i))) {
          i = pattern.indexOf(':]', i) + 1;
        }
        i++;
      }
      continue;
    }
    if (ch === '(') {
      if (pattern[i + 1] !== '?') {
        if (pattern[i + 1] !== '*') n++;
      } else if (/^\(\?(?:P?<[A-Za-z_]|')/.test(pattern.slice(i))) n++;
    }
  }
  return n;
}

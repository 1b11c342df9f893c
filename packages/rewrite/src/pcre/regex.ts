import { createRequire } from 'node:module';
import { type RegexDialect, translatePcre } from './index.js';

/** A compiled nginx regex, matched on byte strings. */
export interface CompiledRegex {
  /** The PCRE pattern as written (a byte string). */
  readonly pattern: string;
  /** `~*` or `(?i)`: matches case-insensitively. */
  readonly caseless: boolean;
  /** Group names by group number; index 0 is unused. */
  readonly names: readonly (string | undefined)[];
  /** The match (index 0 the whole match, then each group, `undefined` if unset), or `null`. */
  exec(subject: string): readonly (string | undefined)[] | null;
}

interface Re2Like {
  exec(input: string): (string | undefined)[] | null;
}
type Re2Constructor = new (pattern: string, flags: string) => Re2Like;

let re2: Re2Constructor | undefined;

/** Loads re2-wasm on first use, so that the JavaScript engine never pays for it. */
function loadRe2(): Re2Constructor {
  if (re2 === undefined) {
    const require = createRequire(import.meta.url);
    re2 = (require('re2-wasm') as { RE2: Re2Constructor }).RE2;
  }
  return re2;
}

/**
 * Compiles an nginx (PCRE) pattern once, for the JavaScript engine or for RE2; throws
 * `PcreTranslationError`, or the engine's own `SyntaxError`, when it cannot.
 */
export function compileRegex(pattern: string, caseless: boolean, dialect: RegexDialect): CompiledRegex {
  const t = translatePcre(pattern, { caseless, dialect });
  if (dialect === 'js') {
    const re = new RegExp(t.source, t.caseless ? 'i' : '');
    return { pattern, caseless: t.caseless, names: t.names, exec: (s) => re.exec(s) };
  }
  const RE2 = loadRe2();
  const re = new RE2(t.source, t.caseless ? 'iu' : 'u');
  return { pattern, caseless: t.caseless, names: t.names, exec: (s) => re.exec(s) };
}

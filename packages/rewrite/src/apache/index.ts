import { hasCode, isSwitchyardError } from '@switchyard/internals';
import { createEngine, type RewriteEngine, type RewriteEngineOptions } from '../engine/index.js';
import type { InvalidOptionError } from '../errors.js';
import { toNginx } from '../nginx/print.js';
import type { RewriteCondition, RewriteConfig, RewriteRule } from '../types.js';

/** Something in the Apache text that was not converted, with its line. Nothing is dropped silently. */
export interface ApacheIssue {
  /** 1-based line of the directive. */
  line: number;
  /** The directive as written. */
  text: string;
  /**
   * `rule-dropped`: the whole `RewriteRule` (and its conditions) was not converted.
   * `condition-dropped`: this `RewriteCond` was left out; its rule was converted without it.
   * `directive-ignored`: a directive outside mod_rewrite's rules.
   */
  kind: 'rule-dropped' | 'condition-dropped' | 'directive-ignored';
  /** Why. */
  reason: string;
}

/** The result of {@link fromApache}. */
export interface ApacheConversion {
  /** The converted rules (server-level `if`/`set`/`rewrite`/`return`). */
  config: RewriteConfig;
  /** What was not converted, one entry per directive, in order. */
  issues: ApacheIssue[];
  /** The equivalent nginx text, for the body of a `server {}` block. */
  toNginx(): string;
  /** An engine for the converted rules. */
  compile(options?: RewriteEngineOptions): RewriteEngine;
}

/** Options of {@link fromApache}. */
export interface FromApacheOptions {
  /**
   * Where the rules were written: `'htaccess'` (per-directory: patterns see the path
   * without the directory prefix, relative substitutions get `RewriteBase`) or `'server'`
   * (a `<VirtualHost>`: patterns see the whole path). @default 'htaccess'
   */
  context?: 'htaccess' | 'server';
  /** The directory the `.htaccess` file is in, as a URL path. @default '/' */
  directory?: string;
}

interface Cond {
  line: number;
  text: string;
  test: string;
  pattern: string;
  nc: boolean;
  or: boolean;
}

const SERVER_VARIABLES: Record<string, string> = {
  HTTP_HOST: '$http_host',
  REQUEST_URI: '$uri',
  QUERY_STRING: '$args',
  REQUEST_METHOD: '$request_method',
  REQUEST_SCHEME: '$scheme',
  SERVER_PORT: '$server_port',
  REMOTE_ADDR: '$remote_addr',
  SERVER_NAME: '$host',
  HTTPS: '$https',
};

/** Splits an Apache directive line into words, honouring "quotes" and \ escapes. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  }
  return out;
}

function flagsOf(word: string | undefined): Map<string, string> | undefined {
  const flags = new Map<string, string>();
  if (word === undefined) return flags;
  const m = /^\[(.*)\]$/.exec(word);
  if (m === null) return undefined;
  for (const f of (m[1] as string).split(',')) {
    const [name, value] = f.trim().split('=', 2) as [string, string | undefined];
    if (name !== '') flags.set(name.toUpperCase(), value ?? '');
  }
  return flags;
}

/** `%{VAR}` → an nginx variable, or `undefined` when there is none. */
function serverVariable(name: string): string | undefined {
  if (/^HTTP:[A-Za-z0-9_-]+$/.test(name)) return `$http_${name.slice(5).toLowerCase().replace(/-/g, '_')}`;
  const known = SERVER_VARIABLES[name];
  if (known !== undefined) return known;
  if (/^HTTP_[A-Z0-9_]+$/.test(name)) return `$${name.toLowerCase()}`;
  return undefined;
}

/** What the back-references of a substitution can read. */
interface BackReferences {
  /** `$N` reads the rule's captures: false when its pattern has a `!` (mod_rewrite sets none). */
  rule: boolean;
  /**
   * The variable holding each group of the condition that `%N` reads (index 0 unused; `null`
   * when `[OR]` conditions name it differently), or `undefined` when no condition sets them.
   */
  cond: readonly (string | null)[] | undefined;
}

const LITERAL_DOLLAR = 'a literal "$" has no nginx equivalent (nginx reads every "$" as a variable)';

/**
 * Converts a substitution as mod_rewrite's `do_expand` reads it, in one pass: `\\c` is `c`,
 * `%{VAR}` a server variable, `$N` and `%N` (one digit) a capture of the rule or of the last
 * matched condition (empty when there is none), and any other `$` or `%` is itself.
 * @see https://httpd.apache.org/docs/current/mod/mod_rewrite.html#rewriterule
 */
function convertString(s: string, refs: BackReferences, problem: (why: string) => void): string {
  let out = '';
  const literal = (ch: string) => {
    // nginx's script compiler has no escape for "$" (ngx_http_script_compile).
    if (ch === '$') problem(LITERAL_DOLLAR);
    else out += ch;
  };
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === '\\' && i + 1 < s.length) {
      literal(s[++i] as string);
      continue;
    }
    if (ch === '%' && s[i + 1] === '{') {
      const end = s.indexOf('}', i);
      const name = s.slice(i + 2, end < 0 ? s.length : end);
      const v = end < 0 ? undefined : serverVariable(name);
      if (v === undefined) problem(`%{${name}} has no nginx equivalent`);
      else out += `\${${v.slice(1)}}`;
      i = end < 0 ? s.length : end;
      continue;
    }
    if ((ch === '%' || ch === '$') && /[0-9]/.test(s[i + 1] ?? '')) {
      out += backReference(ch, Number(s[++i]), refs, problem);
      continue;
    }
    if (ch === '$' && s[i + 1] === '{') {
      problem('RewriteMap lookups are not supported');
      return out;
    }
    literal(ch);
  }
  return out;
}

/** `$N` or `%N` in nginx terms: a group that is never set expands to nothing, as in `do_expand`. */
function backReference(
  kind: '$' | '%',
  n: number,
  refs: BackReferences,
  problem: (why: string) => void,
): string {
  if (kind === '$') {
    if (!refs.rule) return '';
    if (n > 0) return `$${n}`;
    problem('$0 (the whole match of the pattern) is not converted');
    return '';
  }
  if (refs.cond === undefined) return '';
  if (n === 0) {
    problem('%0 (the whole match of a condition) is not converted');
    return '';
  }
  const name = refs.cond[n];
  if (name === null) problem(`%${n} reads groups that the [OR] conditions name differently`);
  return typeof name === 'string' ? `\${${name}}` : '';
}

/**
 * Renames the capturing groups of a condition regex to `rc1`… so `%N` can read them later;
 * `names[N]` is the variable that holds group N (a group named in the pattern keeps its name).
 */
function nameGroups(pattern: string): { regex: string; names: string[] } {
  let out = '';
  let n = 0;
  const names = [''];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      out += ch + (pattern[i + 1] ?? '');
      i++;
      continue;
    }
    if (ch === '[') {
      const end = /^\[\^?\]?(?:\\.|\[:[a-z]+:\]|[^\]])*\]/.exec(pattern.slice(i));
      const cls = end === null ? ch : end[0];
      out += cls;
      i += cls.length - 1;
      continue;
    }
    const named = ch === '(' ? /^\(\?(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(pattern.slice(i)) : null;
    if (named !== null) {
      names[++n] = (named[1] ?? named[2]) as string;
    } else if (ch === '(' && pattern[i + 1] !== '?' && pattern[i + 1] !== '*') {
      names[++n] = `rc${n}`;
      out += `(?<rc${n}>`;
      continue;
    }
    out += ch;
  }
  return { regex: out, names };
}

/** `${name}` → `$name` where nothing that could extend the name follows. */
function tidy(s: string): string {
  return s.replace(/\$\{([A-Za-z0-9_]+)\}(?![A-Za-z0-9_])/g, '$$$1');
}

function escapeRegexText(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

const MATCH_ALL = new Set(['^(.*)$', '^/?(.*)$', '(.*)', '^(.*)', '^/?(.*)', '(.*)$']);

/**
 * Converts `.htaccess` / mod_rewrite rules into the same rules as nginx text would give:
 * `RewriteEngine`, `RewriteBase`, `RewriteCond` (`%{HTTP_HOST}`, `%{REQUEST_URI}`,
 * `%{QUERY_STRING}`, `%{HTTPS}`, `%{REQUEST_METHOD}`, `%{HTTP:Header}`…; flags `NC`, `OR`)
 * and `RewriteRule` (flags `L`, `R[=code]`, `NC`, `QSA`, `QSD`, `NE`, `F`, `G`, `END`).
 * What has no equivalent (file tests such as `-f`/`-d`, `RewriteMap`, `[P]`…) is listed in
 * `issues` with its line, never dropped silently.
 *
 * @example
 * ```ts
 * const c = fromApache('RewriteCond %{HTTP_HOST} ^example\\.org$ [NC]\nRewriteRule ^(.*)$ http://www.example.org/$1 [R=301,L]');
 * c.toNginx(); // 'if ($http_host ~* ^example\\.org$) {\n    return 301 http://www.example.org$request_uri;\n}\n'
 * ```
 * @see https://httpd.apache.org/docs/current/mod/mod_rewrite.html
 */
export function fromApache(text: string, options: FromApacheOptions = {}): ApacheConversion {
  const context = options.context ?? 'htaccess';
  const directory = options.directory ?? '/';
  let base = directory;
  let enabled = true;
  const rules: RewriteRule[] = [];
  const issues: ApacheIssue[] = [];
  let conds: Cond[] = [];
  let ruleNo = 0;

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i] as string;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + (lines[++i] as string);
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (/^<\/?IfModule\b/i.test(trimmed)) continue;
    const w = words(trimmed);
    const directive = (w[0] as string).toLowerCase();
    const issue = (kind: ApacheIssue['kind'], reason: string) =>
      issues.push({ line: lineNo, text: trimmed, kind, reason });

    if (directive === 'rewriteengine') {
      enabled = (w[1] ?? '').toLowerCase() === 'on';
      continue;
    }
    if (directive === 'rewritebase') {
      base = w[1] ?? '/';
      continue;
    }
    if (directive === 'rewritecond') {
      const flags = flagsOf(w[3]);
      if (w.length < 3 || flags === undefined) {
        issue('condition-dropped', 'a RewriteCond needs a test string and a pattern');
        continue;
      }
      const unknown = [...flags.keys()].filter(
        (f) => !['NC', 'NOCASE', 'OR', 'ORNEXT', 'NV', 'NOVARY'].includes(f),
      );
      if (unknown.length > 0) {
        issue('condition-dropped', `condition flags ${unknown.join(', ')} are not supported`);
        continue;
      }
      conds.push({
        line: lineNo,
        text: trimmed,
        test: w[1] as string,
        pattern: w[2] as string,
        nc: flags.has('NC') || flags.has('NOCASE'),
        or: flags.has('OR') || flags.has('ORNEXT'),
      });
      continue;
    }
    if (directive !== 'rewriterule') {
      issue('directive-ignored', `"${w[0]}" is not a mod_rewrite rule directive`);
      continue;
    }

    const ruleConds = conds;
    conds = [];
    const flags = flagsOf(w[3]);
    if (w.length < 3 || flags === undefined) {
      issue('rule-dropped', 'a RewriteRule needs a pattern, a substitution and optional [flags]');
      continue;
    }
    const supported = [
      'L',
      'LAST',
      'R',
      'REDIRECT',
      'NC',
      'NOCASE',
      'QSA',
      'QSAPPEND',
      'QSD',
      'QSDISCARD',
      'NE',
      'NOESCAPE',
      'F',
      'FORBIDDEN',
      'G',
      'GONE',
      'END',
    ];
    const unsupported = [...flags.keys()].filter((f) => !supported.includes(f));
    if (unsupported.length > 0) {
      issue('rule-dropped', `flags ${unsupported.map((f) => `[${f}]`).join(', ')} are not supported`);
      continue;
    }
    if (!enabled) {
      issue('rule-dropped', 'RewriteEngine is off');
      continue;
    }
    ruleNo++;
    let failed: string | undefined;
    const fail = (why: string) => {
      failed ??= why;
    };

    // The pattern, as nginx sees the whole path.
    const rawPattern = w[1] as string;
    const negated = rawPattern.startsWith('!');
    let pattern = negated ? rawPattern.slice(1) : rawPattern;
    const matchAll = !negated && MATCH_ALL.has(pattern);
    if (context === 'htaccess') {
      const prefix = escapeRegexText(directory);
      pattern = pattern.startsWith('^')
        ? `^${prefix}${pattern.slice(1)}`
        : `^${prefix}[\\s\\S]*?(?:${pattern})`;
    }
    const nc = flags.has('NC') || flags.has('NOCASE');
    const rulePattern = nc ? `(?i)${pattern}` : pattern;

    // Conditions, grouped by [OR], and the groups that %N can read.
    const tests: { cond: RewriteCondition; line: number }[][] = [];
    let group: { cond: RewriteCondition; line: number }[] = [];
    const setters: string[][] = [];
    for (const c of ruleConds) {
      const converted = condition(c);
      if (typeof converted === 'string') {
        issues.push({ line: c.line, text: c.text, kind: 'condition-dropped', reason: converted });
      } else {
        group.push({ cond: converted.cond, line: c.line });
        if (converted.names !== undefined) setters.push(converted.names);
      }
      if (!c.or && group.length > 0) {
        tests.push(group);
        group = [];
      }
    }
    if (group.length > 0) tests.push(group);

    // The action.
    const substitution = w[2] as string;
    const status =
      flags.has('F') || flags.has('FORBIDDEN') ? 403 : flags.has('G') || flags.has('GONE') ? 410 : undefined;
    const redirectFlag = flags.get('R') ?? flags.get('REDIRECT');
    const code = redirectFlag === undefined ? undefined : redirectFlag === '' ? 302 : Number(redirectFlag);
    if (code !== undefined && !(code >= 300 && code <= 399))
      fail(`[R=${redirectFlag}] is not a redirect status`);
    const end = flags.has('END');
    const last = end || flags.has('L') || flags.has('LAST');
    const qsa = flags.has('QSA') || flags.has('QSAPPEND');
    const qsd = flags.has('QSD') || flags.has('QSDISCARD');

    let action: RewriteRule | undefined;
    let needsPatternTest = negated;
    if (status !== undefined) {
      action = { type: 'return', code: status };
      needsPatternTest = !matchAll;
    } else if (substitution === '-') {
      if (code !== undefined) fail('a redirect needs a substitution');
      if (!last) {
        issue('rule-dropped', 'a rule with no substitution and no [L], [F] or [G] does nothing');
        continue;
      }
      action = { type: 'break' };
      needsPatternTest = !matchAll;
    } else {
      let target = convertString(
        substitution,
        { rule: !negated, cond: condGroups(setters, ruleConds) },
        fail,
      );
      const absolute = /^[a-z][a-z0-9+.-]*:\/\//i.test(substitution);
      if (!absolute && !target.startsWith('/') && context === 'htaccess') {
        target = `${base.endsWith('/') ? base : `${base}/`}${target}`;
      }
      if (target === '') fail('the substitution is empty once converted');
      const hasQuery = target.includes('?');
      const simpleTail = /^((?:[^$%]|\$\{[a-z_]+\})*)(\$1|\$\{uri\})$/.exec(target);
      if (code !== undefined && matchAll && !hasQuery && !qsa && simpleTail !== null) {
        // The whole path, redirected: nginx writes it as `return … $request_uri` (or `$uri`).
        let prefix = simpleTail[1] as string;
        if (simpleTail[2] === '$1' && context === 'htaccess' && prefix.endsWith('/'))
          prefix = prefix.slice(0, -1);
        action = { type: 'return', code, text: tidy(`${prefix}${qsd ? '$uri' : '$request_uri'}`) };
      } else {
        // Apache drops the query when the substitution has one, unless [QSA]; [QSD] drops it always.
        const dropArgs = qsd || (hasQuery && !qsa);
        const replacement = tidy(dropArgs ? `${target}?` : target);
        if (code === undefined || code === 301 || code === 302) {
          const flag = code === 301 ? 'permanent' : code === 302 ? 'redirect' : end ? 'break' : 'last';
          if (needsPatternTest) {
            action = { type: 'rewrite', regex: nc ? '(?i)^' : '^', replacement, flag };
          } else {
            action = { type: 'rewrite', regex: rulePattern, replacement, flag };
          }
        } else {
          action = { type: 'return', code, text: tidy(dropArgs ? target : `${target}$is_args$args`) };
          needsPatternTest = true;
        }
      }
    }
    if (failed !== undefined) {
      issue('rule-dropped', failed);
      continue;
    }
    if (needsPatternTest) {
      tests.push([
        {
          cond: {
            variable: '$uri',
            operator: negated ? (nc ? '!~*' : '!~') : nc ? '~*' : '~',
            regex: pattern,
          },
          line: lineNo,
        },
      ]);
    }
    const converted = assemble(tests, action as RewriteRule, ruleNo);
    try {
      // Whatever else nginx refuses (a regex it cannot translate…) is reported, not emitted.
      createEngine({ rules: converted, locations: [] });
    } catch (e) {
      if (!isSwitchyardError(e)) throw e;
      // The option path names the converted rule's insides; the reason stands without it.
      const why = hasCode<InvalidOptionError>(e, 'SWY_ERR_INVALID_OPTION')
        ? e.message.slice(e.path.length + 2)
        : e.message;
      issue('rule-dropped', `the converted rule does not compile: ${why}`);
      continue;
    }
    rules.push(...converted);
  }

  const config: RewriteConfig = { rules, locations: [] };
  return {
    config,
    issues,
    toNginx: () => toNginx(config),
    compile: (engineOptions) => createEngine(config, engineOptions),
  };
}

/**
 * A RewriteCond as an nginx `if` condition, with the variables of its groups when a match
 * sets `%N` (a regex without `!`), or why it has none.
 */
function condition(c: Cond): { cond: RewriteCondition; names?: string[] } | string {
  let test: string;
  const m = /^%\{([^}]+)\}$/.exec(c.test);
  if (m !== null) {
    const v = serverVariable(m[1] as string);
    if (v === undefined) return `%{${m[1]}} has no nginx equivalent`;
    test = v;
  } else {
    return 'a test string with more than one variable is not supported';
  }
  let p = c.pattern;
  const negate = p.startsWith('!');
  if (negate) p = p.slice(1);
  if (/^-[a-zA-Z]+$/.test(p)) return `file test ${p} needs a file system`;
  if (/^(?:[<>]=?|-(?:eq|ne|lt|le|gt|ge))/.test(p)) return `comparison ${p} is not supported`;
  if (test === '$https') {
    // Apache's HTTPS is "on" or "off"; nginx's $https is "on" or "".
    const on = /^\^?on\$?$/i.test(p) ? true : /^\^?off\$?$/i.test(p) ? false : undefined;
    if (on === undefined) return `the HTTPS pattern "${p}" is not supported`;
    const cond: RewriteCondition = { variable: '$https', operator: on !== negate ? '=' : '!=', value: 'on' };
    // Still a regex to mod_rewrite: one without "!" that matches leaves no groups for %N.
    return negate ? { cond } : { cond, names: [''] };
  }
  if (p.startsWith('=')) {
    return { cond: { variable: test, operator: negate ? '!=' : '=', value: p.slice(1) } };
  }
  const { regex, names } = nameGroups(p);
  const op = negate ? (c.nc ? '!~*' : '!~') : c.nc ? '~*' : '~';
  // mod_rewrite's apply_rewrite_cond keeps the captures of a regex that matched without "!".
  return negate
    ? { cond: { variable: test, operator: op, regex } }
    : { cond: { variable: test, operator: op, regex }, names };
}

/**
 * The groups `%N` reads: those of the last condition that sets them when all must match; with
 * `[OR]` the one that matched last is not known here, so each group is taken from any of them.
 */
function condGroups(setters: string[][], conds: Cond[]): (string | null)[] | undefined {
  if (setters.length === 0) return undefined;
  if (!conds.some((c) => c.or)) return setters[setters.length - 1];
  const merged: (string | null)[] = [];
  for (const names of setters) {
    names.forEach((name, n) => {
      merged[n] = merged[n] === undefined || merged[n] === name ? name : null;
    });
  }
  return merged;
}

function negation(c: RewriteCondition): RewriteCondition {
  if (!('operator' in c)) return { variable: c.variable, operator: '=', value: '' };
  switch (c.operator) {
    case '=':
      return { ...c, operator: '!=' };
    case '!=':
      return { ...c, operator: '=' };
    case '~':
      return { ...c, operator: '!~' };
    case '~*':
      return { ...c, operator: '!~*' };
    case '!~':
      return { ...c, operator: '~' };
    default:
      return { ...c, operator: '~*' };
  }
}

/** Combines condition groups (AND of ORs) with flag variables, since nginx's `if` has neither. */
function assemble(tests: { cond: RewriteCondition }[][], action: RewriteRule, n: number): RewriteRule[] {
  if (tests.length === 0) return [action];
  if (tests.length === 1 && tests[0]?.length === 1) {
    return [{ type: 'if', condition: (tests[0][0] as { cond: RewriteCondition }).cond, rules: [action] }];
  }
  const flag = `$rw${n}`;
  const out: RewriteRule[] = [{ type: 'set', variable: flag, value: '1' }];
  tests.forEach((group, g) => {
    if (group.length === 1) {
      out.push({
        type: 'if',
        condition: negation((group[0] as { cond: RewriteCondition }).cond),
        rules: [{ type: 'set', variable: flag, value: '0' }],
      });
      return;
    }
    const any = `$rw${n}_${g + 1}`;
    out.push({ type: 'set', variable: any, value: '0' });
    for (const t of group)
      out.push({ type: 'if', condition: t.cond, rules: [{ type: 'set', variable: any, value: '1' }] });
    out.push({
      type: 'if',
      condition: { variable: any, operator: '=', value: '0' },
      rules: [{ type: 'set', variable: flag, value: '0' }],
    });
  });
  out.push({ type: 'if', condition: { variable: flag, operator: '=', value: '1' }, rules: [action] });
  return out;
}

import { boolAt, knownKeys, objectAt, oneOf } from '@switchyard/internals';
import {
  bytesToText,
  ESCAPE_ARGS,
  ESCAPE_URI,
  escapeBytes,
  escapeControls,
  requestBytes,
  unescapeRedirect,
} from '../bytes/index.js';
import { InvalidOptionError } from '../errors.js';
import {
  ADD_HEADER_STATUSES,
  type RewriteMiddleware,
  type RewriteMiddlewareOptions,
  rewriteMiddleware,
} from '../middleware/index.js';
import { ruleHead } from '../nginx/print.js';
import type { RegexDialect } from '../pcre/index.js';
import type {
  RewriteConfig,
  RewritePass,
  RewriteRedirect,
  RewriteRequest,
  RewriteResponseHeader,
  RewriteResult,
  RewriteReturn,
  Rewriter,
  RewriteUpstreamHeader,
} from '../types.js';
import { parseTarget } from '../uri/index.js';
import {
  type CAddHeader,
  type CompiledProxyPass,
  type CRule,
  type CSetHeader,
  compileConfig,
  type HeaderConf,
  type HeaderList,
  type Loc,
  type Program,
  portIsValid,
  splitProxyUrl,
  type Template,
} from './compile.js';
import { hostHeader, Req } from './request.js';
import type { RewriteTrace, TraceStep } from './trace.js';

/** Options of an engine ({@link createEngine}, {@link compileNginx}). */
export interface RewriteEngineOptions {
  /**
   * The regex engine. `'js'` translates each PCRE pattern to a JavaScript RegExp (a
   * backtracking engine: see the README on ReDoS). `'re2'` uses RE2 (re2-wasm), whose
   * matching time is linear in the input, and refuses look-arounds and back-references.
   * @default 'js'
   */
  regexEngine?: RegexDialect;
  /** nginx `absolute_redirect`: make a `Location` that starts with `/` absolute. @default true */
  absoluteRedirect?: boolean;
  /** nginx `port_in_redirect`: keep a port other than 80 (443) in absolute redirects. @default true */
  portInRedirect?: boolean;
  /** nginx `server_name` (its first name): `$server_name`, and `$host` without a Host header. @default '' */
  serverName?: string;
  /** nginx `server_name_in_redirect`: absolute redirects use `serverName`, not the Host. @default false */
  serverNameInRedirect?: boolean;
}

/**
 * Compiled rules: evaluates requests with nginx's semantics. Built once (regexes compiled,
 * location tree built); `evaluate` allocates little and never throws.
 */
export interface RewriteEngine extends Rewriter {
  /** The rules it was built from. */
  readonly config: RewriteConfig;
  /**
   * Decides what nginx would do with a request: send it on (with the URI and location),
   * redirect, or answer.
   * @example
   * ```ts
   * engine.evaluate({ method: 'GET', uri: '/old/page?x=1', headers: { host: 'example.com' } });
   * // → { action: 'redirect', status: 301, location: 'http://example.com/new/page?x=1' }
   * ```
   */
  evaluate(request: RewriteRequest): RewriteResult;
  /** The same decision, with every directive, regex and location search that led to it. */
  trace(request: RewriteRequest): RewriteTrace;
  /** A Connect/Express/node:http middleware that applies the rules to `req.url`. */
  middleware(options?: RewriteMiddlewareOptions): RewriteMiddleware;
}

type Final =
  | { t: 'return'; status: number; text: string | undefined }
  | { t: 'redirect'; status: 301 | 302 | 303 | 307 | 308; location: string };

/** The script engine's own flags (`e->quote`, `e->is_args`), per run of the directives. */
interface Script {
  quote: boolean;
  isArgs: boolean;
}

const CONTINUE = 0;
const STOP = 1;
type Outcome = typeof CONTINUE | typeof STOP | Final;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Every option of {@link RewriteEngineOptions}; a key not here is refused. */
const OPTION_KEYS = Object.keys({
  regexEngine: true,
  absoluteRedirect: true,
  portInRedirect: true,
  serverName: true,
  serverNameInRedirect: true,
} satisfies Record<keyof RewriteEngineOptions, true>);

function validateOptions(options: RewriteEngineOptions): Required<RewriteEngineOptions> {
  knownKeys('', objectAt('options', options), OPTION_KEYS);
  if (options.serverName !== undefined && typeof options.serverName !== 'string') {
    throw new InvalidOptionError('serverName', 'a string', options.serverName);
  }
  return {
    regexEngine: oneOf('regexEngine', options.regexEngine, ['js', 're2'], 'js'),
    absoluteRedirect: boolAt('absoluteRedirect', options.absoluteRedirect, true),
    portInRedirect: boolAt('portInRedirect', options.portInRedirect, true),
    serverName: options.serverName ?? '',
    serverNameInRedirect: boolAt('serverNameInRedirect', options.serverNameInRedirect, false),
  };
}

/**
 * Builds an engine from rules (parsed nginx text, the builder, or a plain object).
 * Throws `RewriteSyntaxError` (rules with source positions) or `InvalidOptionError`.
 *
 * @example
 * ```ts
 * const engine = createEngine(parseNginx(text), { regexEngine: 're2' });
 * ```
 */
export function createEngine(config: RewriteConfig, options: RewriteEngineOptions = {}): RewriteEngine {
  const opts = validateOptions(options);
  const program = compileConfig(config, opts.regexEngine);
  const engine: RewriteEngine = {
    config,
    evaluate: (request) => run(program, opts, request, undefined).result,
    trace: (request) => {
      const steps: TraceStep[] = [];
      const { result, cycles } = run(program, opts, request, steps);
      return { result, steps, cycles };
    },
    middleware: (mwOptions) => rewriteMiddleware(engine, mwOptions),
  };
  return engine;
}

function run(
  program: Program,
  opts: Required<RewriteEngineOptions>,
  request: RewriteRequest,
  steps: TraceStep[] | undefined,
): { result: RewriteResult; cycles: number } {
  try {
    return evaluate(program, opts, request, steps);
  } catch (e) {
    // Evaluation is total by design; should a bug throw, answer as nginx answers its own errors.
    steps?.push({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
    return { result: { action: 'return', status: 500 }, cycles: 0 };
  }
}

function evaluate(
  program: Program,
  opts: Required<RewriteEngineOptions>,
  request: RewriteRequest,
  steps: TraceStep[] | undefined,
): { result: RewriteResult; cycles: number } {
  const bad = { result: { action: 'return', status: 400 } as RewriteResult, cycles: 0 };
  const target = typeof request?.uri === 'string' ? parseTarget(requestBytes(request.uri)) : undefined;
  if (target === undefined) return bad;
  const host = hostHeader(request.headers);
  if (host === false) return bad;
  const r = new Req(request, target, target.host ?? host, opts.serverName, steps);
  if (r.steps !== undefined) r.note({ kind: 'request', uri: r.uri, args: r.args, requestUri: r.unparsed });

  if (r.steps !== undefined) r.note({ kind: 'phase', phase: 'server-rewrite', cycle: 0 });
  const server = runRules(program.server, r, { quote: true, isArgs: false }, false);
  if (typeof server === 'object') return { result: finish(server, r, opts, program), cycles: 0 };

  let cycles = 0;
  for (;;) {
    cycles++;
    if (r.steps !== undefined) r.note({ kind: 'phase', phase: 'find-location', cycle: cycles });
    r.uriChanged = false;
    r.ifMatched = undefined;
    if (findLocation(program, r)) {
      const loc = r.loc as Loc;
      const name = escapeBytes(loc.name, ESCAPE_URI);
      const location = r.args.length > 0 ? `${name}?${r.args}` : name;
      return { result: finish({ t: 'redirect', status: 301, location }, r, opts, program), cycles };
    }
    if (r.loc !== undefined) {
      if (r.steps !== undefined) r.note({ kind: 'phase', phase: 'location-rewrite', cycle: cycles });
      const out = runRules(r.loc.rules, r, { quote: true, isArgs: false }, true);
      if (typeof out === 'object') return { result: finish(out, r, opts, program), cycles };
    }
    if (!r.uriChanged) break;
    r.uriChanges--;
    if (r.steps !== undefined) r.note({ kind: 'cycle', cycle: cycles + 1, uriChangesLeft: r.uriChanges });
    if (r.uriChanges === 0) {
      // "rewrite or internal redirection cycle"
      return { result: finish({ t: 'return', status: 500, text: undefined }, r, opts, program), cycles };
    }
  }
  const passed = pass(r, program);
  return {
    result: passed ?? finish({ t: 'return', status: 500, text: undefined }, r, opts, program),
    cycles,
  };
}

/**
 * ngx_http_core_find_location: exact, longest prefix, `^~`, regexes in order. Sets `r.loc`;
 * `true` when the URI lacks the slash of a prefix location that redirects to it.
 */
function findLocation(program: Program, r: Req): boolean {
  const m = program.tree.find(r.uri);
  r.loc = m.location;
  if (m.rc === 'ok') {
    if (r.steps !== undefined) r.note({ kind: 'location', location: m.location?.text, how: 'exact' });
    return false;
  }
  if (m.rc === 'done') {
    if (r.steps !== undefined) r.note({ kind: 'location', location: m.location?.text, how: 'add-slash' });
    return true;
  }
  if (!(m.rc === 'again' && m.location?.noregex)) {
    for (const loc of program.regexLocations) {
      const match = (loc.regex as NonNullable<Loc['regex']>).exec(r.uri);
      if (r.steps !== undefined)
        r.note({
          kind: 'location-regex',
          location: loc.text,
          matched: match !== null,
          ...(match === null ? {} : { captures: [...match] }),
        });
      if (match !== null) {
        r.matched(loc.regex as NonNullable<Loc['regex']>, match);
        r.loc = loc;
        if (r.steps !== undefined) r.note({ kind: 'location', location: loc.text, how: 'regex' });
        return false;
      }
    }
  }
  if (r.steps !== undefined)
    r.note({ kind: 'location', location: r.loc?.text, how: r.loc === undefined ? 'none' : 'prefix' });
  return false;
}

function getVar(r: Req, name: string, get: ((r: Req) => string | undefined) | undefined): string {
  const own = r.vars?.get(name);
  if (own !== undefined) return own;
  return get?.(r) ?? '';
}

/** Evaluates a value; captures are escaped as ngx_http_script_copy_capture_code does. */
function evalTemplate(t: Template, r: Req, script: Script | undefined): string {
  if (t.literal !== undefined) return t.literal;
  let out = '';
  for (const p of t.parts) {
    if (p.k === 'lit') out += p.s;
    else if (p.k === 'var') out += getVar(r, p.name, p.get);
    else if (p.k === 'cap') out += capture(r, p.n, script);
  }
  return out;
}

function capture(r: Req, n: number, script: Script | undefined): string {
  const v = r.caps?.[n];
  if (v === undefined) return '';
  if (script !== undefined && (script.isArgs || script.quote) && (r.quoted || r.plus)) {
    return escapeBytes(v, ESCAPE_ARGS);
  }
  return v;
}

function runRules(rules: readonly CRule[], r: Req, script: Script, inLocation: boolean): Outcome {
  for (const rule of rules) {
    if (r.steps !== undefined) {
      r.note({ kind: 'directive', text: ruleHead(rule.src), ...(rule.src.at ?? {}) });
    }
    const out = runRule(rule, r, script, inLocation);
    if (out !== CONTINUE) return out;
  }
  return CONTINUE;
}

function runRule(rule: CRule, r: Req, script: Script, inLocation: boolean): Outcome {
  switch (rule.k) {
    case 'rewrite':
      return rewrite(rule, r, script);
    case 'return': {
      // ngx_http_script_return_code: a text (or any status below 400) is sent by
      // ngx_http_send_response, with a fresh script engine that copies captures as they are.
      const t = rule.text;
      if (rule.status < 400 || (t !== undefined && t.literal !== '')) {
        const text = t === undefined ? '' : evalTemplate(t, r, undefined);
        if (REDIRECTS.has(rule.status)) {
          return { t: 'redirect', status: rule.status as 301, location: text };
        }
        return { t: 'return', status: rule.status, text };
      }
      return { t: 'return', status: rule.status, text: undefined };
    }
    case 'set': {
      const value = evalTemplate(rule.value, r, script);
      if (r.steps !== undefined) r.note({ kind: 'set', variable: `$${rule.name}`, value });
      if (rule.name === 'args') {
        r.args = value;
        r.validUnparsed = false;
      } else {
        r.vars ??= new Map();
        r.vars.set(rule.name, value);
      }
      return CONTINUE;
    }
    case 'break':
      r.uriChanged = false;
      return STOP;
    case 'if': {
      const value = condition(rule, r, script);
      if (r.steps !== undefined) r.note({ kind: 'condition', value });
      if (!value) return CONTINUE;
      // ngx_http_script_if_code: the matching if's configuration becomes the request's.
      if (inLocation) r.ifMatched = rule;
      return runRules(rule.rules, r, script, inLocation);
    }
  }
}

function condition(rule: CRule & { k: 'if' }, r: Req, script: Script): boolean {
  const left = getVar(r, rule.variable.name, rule.variable.get);
  switch (rule.op) {
    case '':
      return left !== '' && left !== '0';
    case '=':
    case '!=': {
      const right = evalTemplate(rule.value as Template, r, script);
      return (left === right) === (rule.op === '=');
    }
    default: {
      const regex = rule.regex as NonNullable<typeof rule.regex>;
      const m = regex.exec(left);
      if (r.steps !== undefined)
        r.note({
          kind: 'regex',
          pattern: regex.pattern,
          subject: left,
          matched: m !== null,
          ...(m === null ? {} : { captures: [...m] }),
        });
      if (m === null) {
        r.caps = null;
        return rule.op === '!~';
      }
      r.matched(regex, m);
      return rule.op === '~';
    }
  }
}

/** ngx_http_script_regex_start_code and regex_end_code for a `rewrite`. */
function rewrite(rule: CRule & { k: 'rewrite' }, r: Req, script: Script): Outcome {
  const m = rule.regex.exec(r.uri);
  if (r.steps !== undefined)
    r.note({
      kind: 'regex',
      pattern: rule.regex.pattern,
      subject: r.uri,
      matched: m !== null,
      ...(m === null ? {} : { captures: [...m] }),
    });
  if (m === null) {
    r.caps = null;
    return CONTINUE;
  }
  r.matched(rule.regex, m);
  r.internal = true;
  r.validUnparsed = false;
  if (rule.breakCycle) {
    r.validLocation = false;
    r.uriChanged = false;
  } else {
    r.uriChanged = true;
  }

  script.quote = rule.redirect;
  let buf = '';
  let argsAt = -1;
  for (const p of rule.replacement.parts) {
    if (p.k === 'lit') buf += p.s;
    else if (p.k === 'var') buf += getVar(r, p.name, p.get);
    else if (p.k === 'cap') buf += capture(r, p.n, script);
    else {
      script.isArgs = true;
      argsAt = buf.length;
    }
  }
  script.quote = false;

  if (rule.redirect) {
    let location = unescapeRedirect(buf);
    if (rule.addArgs && r.args.length > 0) {
      location += `${rule.replacement.question ? '&' : '?'}${r.args}`;
    }
    return { t: 'redirect', status: rule.status, location };
  }

  let uri = buf;
  if (argsAt >= 0) {
    uri = buf.slice(0, argsAt);
    let args = buf.slice(argsAt);
    if (rule.addArgs && r.args.length > 0) args += `&${r.args}`;
    r.args = args;
  } else if (!rule.addArgs) {
    r.args = '';
  }
  r.uri = uri;
  if (r.steps !== undefined) r.note({ kind: 'rewritten', uri, args: r.args });
  if (uri === '') {
    // "the rewritten URI has a zero length"
    return { t: 'return', status: 500, text: undefined };
  }
  return rule.stop ? STOP : CONTINUE;
}

/**
 * The request-target the proxy sends, as ngx_http_proxy_create_request builds it;
 * `undefined` when a `proxy_pass` with variables gives no http(s) URL (nginx: 500).
 */
function pass(r: Req, program: Program): RewritePass | undefined {
  const loc = r.loc;
  const proxy: CompiledProxyPass | undefined = r.ifMatched?.proxy ?? loc?.proxy;
  let origin = proxy?.origin;
  let proxyUri = proxy?.uri ?? '';
  let uri: string;
  let evaluated = false;
  if (proxy?.template !== undefined) {
    const url = evalTemplate(proxy.template, r, undefined);
    if (/^https?:\/\/unix:/i.test(url)) {
      // A unix-domain socket: its path runs to the next colon, as in a fixed URL.
      const split = splitProxyUrl(url);
      if (split === undefined) return undefined;
      origin = split.origin;
      proxyUri = split.uri;
    } else {
      const m = /^(https?:\/\/)([^/?]+)([\s\S]*)$/i.exec(url);
      if (m === null || !portIsValid(m[2] as string)) return undefined;
      origin = `${(m[1] as string).toLowerCase()}${m[2]}`;
      proxyUri = m[3] as string;
    }
    if (proxyUri.startsWith('?')) proxyUri = `/${proxyUri}`;
    evaluated = true;
  }
  if (evaluated && proxyUri !== '') {
    uri = proxyUri;
  } else if (proxyUri === '' && r.validUnparsed) {
    uri = r.unparsed;
  } else {
    const cut = r.validLocation && proxyUri !== '' && !evaluated && loc !== undefined ? loc.name.length : 0;
    let rest = r.uri.slice(cut);
    if (r.quoted || r.internal) rest = escapeBytes(rest, ESCAPE_URI);
    uri = (r.validLocation ? proxyUri : '') + rest + (r.args.length > 0 ? `?${r.args}` : '');
  }
  const result: RewritePass = { action: 'pass', uri: escapeTarget(uri) };
  if (loc !== undefined) result.location = loc.text;
  if (origin !== undefined) result.target = origin;
  const conf = headersInForce(r, program);
  if (conf !== undefined) {
    r.proxyOrigin = origin;
    const add = conf.add === undefined ? undefined : responseHeaders(conf.add, r, undefined);
    if (add !== undefined) result.addHeaders = add;
    if (conf.set !== undefined) result.setHeaders = upstreamHeaders(conf.set, r);
    if (conf.hide !== undefined) result.hideHeaders = conf.hide;
    if (conf.pass !== undefined) result.passHeaders = conf.pass;
  }
  return result;
}

/** The configuration the request ends in: the matched `if`'s, the location's, or the server's. */
function headersInForce(r: Req, program: Program): HeaderConf | undefined {
  if (r.ifMatched?.headers !== undefined) return r.ifMatched.headers;
  return r.loc === undefined ? program.headers : r.loc.headers;
}

/**
 * `add_header` values for this request; for a known status, only those nginx adds to it.
 * `undefined` when none is left.
 */
function responseHeaders(
  list: HeaderList<CAddHeader, RewriteResponseHeader>,
  r: Req,
  status: number | undefined,
): readonly RewriteResponseHeader[] | undefined {
  const all = status === undefined || ADD_HEADER_STATUSES.has(status);
  let out: readonly RewriteResponseHeader[] | undefined = all ? list.fixed : list.fixedAlways;
  if (out === undefined) {
    const built: RewriteResponseHeader[] = [];
    for (const h of list.items) {
      if (!all && !h.always) continue;
      const value = escapeControls(evalTemplate(h.value, r, undefined));
      // ngx_http_add_header adds nothing for an empty value; the replacing handlers remove.
      if (value === '' && !h.replace) continue;
      built.push({ name: h.name, value, always: h.always, replace: h.replace });
    }
    out = built;
  }
  return out.length === 0 ? undefined : out;
}

/** `proxy_set_header` values for this request. */
function upstreamHeaders(
  list: HeaderList<CSetHeader, RewriteUpstreamHeader>,
  r: Req,
): readonly RewriteUpstreamHeader[] {
  if (list.fixed !== undefined) return list.fixed;
  const out: RewriteUpstreamHeader[] = [];
  for (const h of list.items) {
    out.push({ name: h.name, value: escapeControls(evalTemplate(h.value, r, undefined)) });
  }
  return out;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: bytes a request line cannot carry
const TARGET_UNSAFE = /[\u0000-\u0020\u007f]/;

/** A request line cannot carry controls or spaces: escape them (nginx would send them raw). */
function escapeTarget(uri: string): string {
  return TARGET_UNSAFE.test(uri) ? escapeControls(uri).replace(/ /g, '%20') : uri;
}

function finish(f: Final, r: Req, opts: Required<RewriteEngineOptions>, program: Program): RewriteResult {
  const conf = headersInForce(r, program);
  // 444 closes the connection: no response, no headers.
  const add =
    conf?.add === undefined || f.status === 444 ? undefined : responseHeaders(conf.add, r, f.status);
  if (f.t === 'return') {
    const result: RewriteReturn =
      f.status === 444 || f.text === undefined || r.method === 'HEAD'
        ? { action: 'return', status: f.status }
        : { action: 'return', status: f.status, body: bytesToText(f.text) };
    if (add !== undefined) result.addHeaders = add;
    return result;
  }
  let location = f.location;
  if (location.startsWith('/') && opts.absoluteRedirect) {
    // ngx_http_header_filter: scheme, host (validated Host, else the server's address), port.
    const host = opts.serverNameInRedirect ? opts.serverName : (r.server ?? r.serverAddr);
    const defaultPort = r.scheme === 'https' ? 443 : 80;
    const port = opts.portInRedirect && r.port !== defaultPort ? `:${r.port}` : '';
    location = `${r.scheme}://${host}${port}${location}`;
  }
  const result: RewriteRedirect = {
    action: 'redirect',
    status: f.status,
    location: escapeControls(location),
  };
  if (add !== undefined) result.addHeaders = add;
  return result;
}

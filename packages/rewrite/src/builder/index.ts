import { createEngine, type RewriteEngine, type RewriteEngineOptions } from '../engine/index.js';
import type {
  LocationModifier,
  RewriteCondition,
  RewriteConfig,
  RewriteFlag,
  RewriteHeaderDirectives,
  RewriteLocation,
  RewriteRule,
} from '../types.js';

/** The directives allowed everywhere: `rewrite`, `return`, `set`, `break`. */
export class RuleListBuilder {
  /** @internal */
  protected readonly rules: RewriteRule[] = [];

  /** `rewrite regex replacement [flag];` */
  rewrite(regex: string, replacement: string, flag?: RewriteFlag): this {
    this.rules.push(
      flag === undefined
        ? { type: 'rewrite', regex, replacement }
        : { type: 'rewrite', regex, replacement, flag },
    );
    return this;
  }

  /** `return code [text];` or `return URL;` (a 302). */
  return(code: number, text?: string): this;
  return(url: string): this;
  return(code: number | string, text?: string): this {
    if (typeof code === 'string') this.rules.push({ type: 'return', text: code });
    else this.rules.push(text === undefined ? { type: 'return', code } : { type: 'return', code, text });
    return this;
  }

  /** `set $variable value;` */
  set(variable: `$${string}`, value: string): this {
    this.rules.push({ type: 'set', variable, value });
    return this;
  }

  /** `break;` */
  break(): this {
    this.rules.push({ type: 'break' });
    return this;
  }
}

/** The body of an `if` block. */
export class IfBuilder extends RuleListBuilder {
  /** @internal */
  proxy: string | undefined;
  /** @internal */
  addHeaders: RewriteHeaderDirectives['addHeaders'];

  /**
   * `add_header name value [always];` inside an `if` in a location: when the `if`
   * matches, its list replaces the location's (refused in a server-level `if`, as in nginx).
   */
  addHeader(name: string, value: string, always?: boolean): this {
    this.addHeaders ??= [];
    this.addHeaders.push(always === true ? { name, value, always } : { name, value });
    return this;
  }

  /** `proxy_pass URL;` inside an `if` in a location (no URI part, as in nginx). */
  proxyPass(url: string): this {
    this.proxy = url;
    return this;
  }

  /** @internal */
  list(): RewriteRule[] {
    return this.rules;
  }
}

/** Directives that may hold an `if` block, and the header directives (server and location). */
export class BlockBuilder extends RuleListBuilder {
  /** @internal */
  protected readonly headers: RewriteHeaderDirectives = {};

  /**
   * `add_header name value [always];`. A level with its own `add_header` does not inherit
   * the server's.
   * @see https://nginx.org/en/docs/http/ngx_http_headers_module.html#add_header
   */
  addHeader(name: string, value: string, always?: boolean): this {
    this.headers.addHeaders ??= [];
    this.headers.addHeaders.push(always === true ? { name, value, always } : { name, value });
    return this;
  }

  /**
   * `proxy_set_header name value;` (an empty value removes the header). A location with
   * its own does not inherit the server's.
   * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header
   */
  proxySetHeader(name: string, value: string): this {
    this.headers.proxySetHeaders ??= [];
    this.headers.proxySetHeaders.push({ name, value });
    return this;
  }

  /**
   * `proxy_hide_header name;`
   * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_hide_header
   */
  proxyHideHeader(name: string): this {
    this.headers.proxyHideHeaders ??= [];
    this.headers.proxyHideHeaders.push(name);
    return this;
  }

  /**
   * `proxy_pass_header name;`
   * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass_header
   */
  proxyPassHeader(name: string): this {
    this.headers.proxyPassHeaders ??= [];
    this.headers.proxyPassHeaders.push(name);
    return this;
  }

  /** `if (condition) { … }` */
  if(condition: RewriteCondition, body: (b: IfBuilder) => void): this {
    const b = new IfBuilder();
    body(b);
    const rule: RewriteRule = { type: 'if', condition: { ...condition }, rules: b.list() };
    if (b.proxy !== undefined) rule.proxyPass = b.proxy;
    if (b.addHeaders !== undefined) rule.addHeaders = b.addHeaders;
    this.rules.push(rule);
    return this;
  }
}

/** The body of a `location` block. */
export class LocationBuilder extends BlockBuilder {
  /** @internal */
  proxy: string | undefined;

  /** `proxy_pass URL;` */
  proxyPass(url: string): this {
    this.proxy = url;
    return this;
  }

  /** @internal */
  list(): RewriteRule[] {
    return this.rules;
  }

  /** @internal */
  headerDirectives(): RewriteHeaderDirectives {
    return this.headers;
  }
}

/** Splits `"= /x"`, `"~* \\.jpg$"` or `"/prefix"` as nginx's `location` directive does. */
function locationSpec(spec: string): { modifier: LocationModifier; path: string } {
  const m = /^(=|\^~|~\*|~)\s+([\s\S]*)$/.exec(spec);
  if (m !== null) return { modifier: m[1] as LocationModifier, path: m[2] as string };
  return { modifier: '', path: spec };
}

/**
 * Builds rules in code; `build()` gives the same engine {@link compileNginx} gives for the
 * equivalent nginx text, and `config` the same {@link RewriteConfig} as `parseNginx`
 * (without source positions).
 *
 * @example
 * ```ts
 * const engine = rewriteRules()
 *   .rewrite('^/old/(.*)$', '/new/$1', 'permanent')
 *   .location('/api/', (l) => l.proxyPass('http://127.0.0.1:9000'))
 *   .location('~* \\.(gif|jpg)$', (l) => l.return(403))
 *   .build();
 * ```
 */
export class RulesBuilder extends BlockBuilder {
  private readonly locations: RewriteLocation[] = [];

  /** `location [modifier] path { … }`, written as after `location` in nginx. */
  location(spec: string, body: (b: LocationBuilder) => void): this {
    const b = new LocationBuilder();
    body(b);
    const loc: RewriteLocation = { ...locationSpec(spec), rules: b.list(), ...b.headerDirectives() };
    if (b.proxy !== undefined) loc.proxyPass = b.proxy;
    this.locations.push(loc);
    return this;
  }

  /** The rules built so far (a copy). */
  get config(): RewriteConfig {
    return structuredClone({ ...this.headers, rules: this.rules, locations: this.locations });
  }

  /** Compiles the rules; throws `InvalidOptionError` naming the rule's path when one is invalid. */
  build(options?: RewriteEngineOptions): RewriteEngine {
    return createEngine(this.config, options);
  }
}

/** Starts a {@link RulesBuilder}. */
export function rewriteRules(): RulesBuilder {
  return new RulesBuilder();
}

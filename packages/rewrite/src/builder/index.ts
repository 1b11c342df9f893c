import { createEngine, type RewriteEngine, type RewriteEngineOptions } from '../engine/index.js';
import type {
  LocationModifier,
  RewriteCondition,
  RewriteConfig,
  RewriteFlag,
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

/** Directives that may hold an `if` block. */
export class BlockBuilder extends RuleListBuilder {
  /** `if (condition) { … }` */
  if(condition: RewriteCondition, body: (b: IfBuilder) => void): this {
    const b = new IfBuilder();
    body(b);
    const rule: RewriteRule = { type: 'if', condition: { ...condition }, rules: b.list() };
    if (b.proxy !== undefined) rule.proxyPass = b.proxy;
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
    const loc: RewriteLocation = { ...locationSpec(spec), rules: b.list() };
    if (b.proxy !== undefined) loc.proxyPass = b.proxy;
    this.locations.push(loc);
    return this;
  }

  /** The rules built so far (a copy). */
  get config(): RewriteConfig {
    return structuredClone({ rules: this.rules, locations: this.locations });
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

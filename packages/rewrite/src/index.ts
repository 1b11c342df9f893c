/**
 * @switchyard/rewrite — nginx's rewrite engine (`rewrite`, `return`, `if`, `set`, `break`,
 * `location`, `proxy_pass`, and the header directives `add_header`, `proxy_set_header`,
 * `proxy_hide_header`, `proxy_pass_header`) with nginx's exact results, a dry-run trace, middleware, a
 * typed builder, and an Apache mod_rewrite converter.
 * @packageDocumentation
 */

export {
  type ApacheConversion,
  type ApacheIssue,
  type FromApacheOptions,
  fromApache,
} from './apache/index.js';
export {
  BlockBuilder,
  IfBuilder,
  LocationBuilder,
  RuleListBuilder,
  RulesBuilder,
  rewriteRules,
} from './builder/index.js';
export { createEngine, type RewriteEngine, type RewriteEngineOptions } from './engine/index.js';
export type { RewriteTrace, TraceStep } from './engine/trace.js';
export { InvalidOptionError, RewriteSyntaxError, SwitchyardError } from './errors.js';
export { type RewriteMiddleware, type RewriteMiddlewareOptions, requestOf } from './middleware/index.js';
export { compileNginx, parseNginx, toNginx } from './nginx/index.js';
export type {
  LocationModifier,
  RewriteAddHeader,
  RewriteCondition,
  RewriteConfig,
  RewriteFlag,
  RewriteHeaderDirectives,
  RewriteLocation,
  RewritePass,
  RewriteProxySetHeader,
  RewriteRedirect,
  RewriteRequest,
  RewriteResponseHeader,
  RewriteResult,
  RewriteReturn,
  RewriteRule,
  Rewriter,
  RewriteUpstreamHeader,
  SourcePosition,
} from './types.js';

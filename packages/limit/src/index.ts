/**
 * `@switchyard/limit`: nginx's `limit_req` and `limit_conn`.
 *
 * @packageDocumentation
 * @module @switchyard/limit
 */
export { InvalidOptionError, LimitStoreError, SwitchyardError } from './errors.js';
export {
  createLimits,
  DEFAULT_LIMIT_STATUS,
  DEFAULT_STORE_TIMEOUT_MS,
  type LimitConnOptions,
  type LimitReqOptions,
  type LimitsLocationOptions,
  type LimitsOptions,
} from './limits/index.js';
export {
  MemoryConnStore,
  MemoryRateStore,
  type MemoryRateStoreOptions,
  memoryConnStore,
  memoryRateStore,
} from './memory-store/index.js';
export {
  DEFAULT_CLIENT_MAX_BODY_SIZE,
  type FastifyReplyLike,
  type FastifyRequestLike,
  type LimitFastifyHook,
  type LimitMiddleware,
  type LimitMiddlewareOptions,
  type LimitStatus,
  limitFastify,
  limitMiddleware,
  limitStatus,
  type NextFunction,
} from './middleware.js';
export { parseRate, type Rate } from './rate/index.js';
export {
  type RedisCommandClient,
  type RedisCommandOptions,
  type RedisConnStore,
  type RedisConnStoreOptions,
  type RedisRateStore,
  type RedisRateStoreOptions,
  redisConnStore,
  redisRateStore,
} from './redis.js';
export {
  DEFAULT_CLIENT_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  type NginxTimeoutsOptions,
  nginxTimeouts,
} from './timeouts.js';
export type {
  ConnStore,
  ConnTake,
  KeyFunction,
  LimitConnCounts,
  LimitConnStatus,
  LimitDecision,
  Limiter,
  LimitReqCounts,
  LimitReqStatus,
  LimitRequest,
  RateAndConn,
  RateResult,
  RateStore,
  RateTake,
} from './types.js';
export {
  type ConnZone,
  type ConnZoneOptions,
  connZone,
  DEFAULT_MAX_KEYS,
  type RateZone,
  type RateZoneOptions,
  rateZone,
  remoteAddress,
} from './zone/index.js';

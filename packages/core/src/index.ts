/**
 * The main entry of `@switchyard/core`: upstream groups ({@link createUpstream}), the
 * streaming reverse proxy ({@link createProxy}) with its Connect/Express and WebSocket
 * adapters, active health checks ({@link createHealthCheck}) and the NGINX Plus API
 * ({@link createAdminApi}). The Fastify plugin is in `@switchyard/core/fastify`, the
 * Prometheus metrics in `@switchyard/core/metrics`. The balancer contract (`Balancer`, …)
 * and `roundRobin` are re-exported from
 * {@link @switchyard/balancers! | @switchyard/balancers}, which documents them.
 *
 * @packageDocumentation
 * @module @switchyard/core
 */
export type {
  Balancer,
  PeerView,
  Persistence,
  PickContext,
  RequestInfo,
  ResponseHead,
} from '@switchyard/balancers';
export { roundRobin } from '@switchyard/balancers';
export {
  type AdminApi,
  type AdminApiOptions,
  type AdminAuth,
  type AdminErrorBody,
  API_VERSIONS,
  type CacheJson,
  type CacheWriteJson,
  createAdminApi,
  type PeerJson,
  type ServerJson,
  type UpstreamJson,
} from './admin/index.js';
export {
  BodyConsumedError,
  HookError,
  InvalidOptionError,
  NoLiveUpstreamError,
  PeerExistsError,
  PeerNotFoundError,
  SwitchyardError,
  UpstreamError,
  UpstreamTimeoutError,
} from './errors.js';
export {
  createHealthCheck,
  type HeaderMatch,
  type HealthCheck,
  type HealthCheckOptions,
  type MatchOptions,
  type Timers,
} from './health/index.js';
export type {
  HealthCheckCounts,
  PassiveHealth,
  Peer,
  PeerPatch,
  PeerState,
  PeerStats,
  ResponseCounts,
  ServerConfig,
  ServerOptions,
} from './peer/index.js';
export {
  type AccessLogFields,
  type AddedHeader,
  accessLogFields,
  accessLogLine,
  CHANNELS,
  type CloseOptions,
  createProxy,
  type ErrorPage,
  type ErrorPageHandler,
  type HeaderOptions,
  type HeaderValue,
  type Logger,
  type NextFunction,
  type NextUpstreamCondition,
  type ObserveOptions,
  type PeerChosenMessage,
  type ProxyAddedHeader,
  type ProxyCache,
  type ProxyCachedResponse,
  type ProxyCacheForward,
  type ProxyLimitDecision,
  type ProxyLimiter,
  type ProxyOptions,
  type ProxyRewriter,
  type ProxySetHeader,
  type ReplaceRule,
  type RequestStartMessage,
  type ResponseEndMessage,
  type ResponseHeadView,
  type ResponseRecord,
  type RetryMessage,
  type RetryReason,
  type ReverseProxy,
  type UpstreamTry,
  upstreamAddr,
  upstreamHeaderTime,
  upstreamResponseTime,
  upstreamStatus,
} from './proxy/index.js';
export type { LimitConnCounts, LimitReqCounts, LimitZones } from './stats/index.js';
export {
  type AdminMetrics,
  type CacheOutcome,
  type CacheWriteOutcome,
  type CacheZone,
  type CacheZoneStats,
  type ConnectionCounts,
  countTraffic,
  type RequestCounts,
  type TrafficCounter,
  type TrafficStats,
  type UpstreamList,
  type UpstreamSource,
} from './stats/index.js';
export {
  type AttemptFailure,
  type AttemptOutcome,
  createUpstream,
  type HealthCheckResult,
  type HealthPolicy,
  type Lease,
  type PemInput,
  Upstream,
  type UpstreamEvents,
  type UpstreamOptions,
  type UpstreamTlsOptions,
} from './upstream/index.js';

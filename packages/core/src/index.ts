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
  type AdminMetrics,
  API_VERSIONS,
  type CacheJson,
  type CacheOutcome,
  type CacheWriteJson,
  type CacheWriteOutcome,
  type CacheZone,
  type CacheZoneStats,
  type ConnectionCounts,
  countTraffic,
  createAdminApi,
  type PeerJson,
  type RequestCounts,
  type ServerJson,
  type TrafficCounter,
  type TrafficStats,
  type UpstreamJson,
  type UpstreamList,
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
  createProxy,
  type NextFunction,
  type NextUpstreamCondition,
  type ProxyCache,
  type ProxyCachedResponse,
  type ProxyCacheForward,
  type ProxyOptions,
  type ProxyRewriter,
  type ReverseProxy,
} from './proxy/index.js';
export {
  type AttemptFailure,
  type AttemptOutcome,
  createUpstream,
  type HealthCheckResult,
  type HealthPolicy,
  Upstream,
  type UpstreamEvents,
  type UpstreamOptions,
} from './upstream/index.js';

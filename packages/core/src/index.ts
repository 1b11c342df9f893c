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
  BodyConsumedError,
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
export {
  type HealthCheckCounts,
  Peer,
  type PeerPatch,
  type PeerState,
  type ResponseCounts,
  type ServerConfig,
  type ServerOptions,
} from './peer/index.js';
export {
  createProxy,
  type NextFunction,
  type NextUpstreamCondition,
  type ProxyOptions,
  type ReverseProxy,
} from './proxy/index.js';
export {
  createUpstream,
  type HealthCheckResult,
  Upstream,
  type UpstreamEvents,
  type UpstreamOptions,
} from './upstream/index.js';

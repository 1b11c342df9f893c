export { InvalidOptionError, SessionStoreError, SwitchyardError } from './errors.js';
export type { RequestSource, ResponseSource } from './persistence/sources.js';
export {
  type RedisLikeClient,
  type RedisSessionStoreOptions,
  redisSessionStore,
} from './redis-session-store/index.js';
export { roundRobin } from './round-robin/index.js';
export { type StickyCookieOptions, stickyCookie } from './sticky-cookie/index.js';
export {
  type MemorySessionStoreOptions,
  memorySessionStore,
  type SessionStore,
  type StickyLearnOptions,
  stickyLearn,
} from './sticky-learn/index.js';
export { type StickyRouteOptions, stickyRoute } from './sticky-route/index.js';
export type {
  Balancer,
  CandidateReport,
  Explanation,
  PeerView,
  Persistence,
  PickContext,
  RequestInfo,
  ResponseHead,
} from './types.js';

export { type BoundedLoadHashOptions, boundedLoadHash } from './bounded-load-hash/index.js';
export { InvalidOptionError, SessionStoreError, SwitchyardError } from './errors.js';
export { explain } from './explain/index.js';
export { type HashOptions, hash } from './hash/index.js';
export { ipHash } from './ip-hash/index.js';
export { leastConn } from './least-conn/index.js';
export { type LeastTimeMeasure, type LeastTimeOptions, leastTime } from './least-time/index.js';
export {
  type RedisLikeClient,
  type RedisSessionStoreOptions,
  redisSessionStore,
} from './persistence/redis-session-store/index.js';
export type { RequestSource, ResponseSource } from './persistence/sources.js';
export { type StickyCookieOptions, stickyCookie } from './persistence/sticky-cookie/index.js';
export {
  type MemorySessionStoreOptions,
  memorySessionStore,
  type SessionStore,
  type StickyLearnOptions,
  stickyLearn,
} from './persistence/sticky-learn/index.js';
export { type StickyRouteOptions, stickyRoute } from './persistence/sticky-route/index.js';
export { type RandomOptions, type RandomTwoMethod, random } from './random/index.js';
export { roundRobin } from './round-robin/index.js';
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
export { SLOW_START_MIN_FRACTION, weightAt } from './weight.js';

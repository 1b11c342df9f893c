/**
 * What the admin API and the metrics both read: client traffic counts, cache zone, limit
 * zone and upstream group shapes, and the per-upstream tracking records. `admin/` and `metrics/`
 * import from here, never from each other.
 */
export { countTraffic, type TrafficCounter } from './traffic.js';
export type {
  AdminMetrics,
  CacheOutcome,
  CacheWriteOutcome,
  CacheZone,
  CacheZoneStats,
  ConnectionCounts,
  LimitConnCounts,
  LimitReqCounts,
  LimitZones,
  RequestCounts,
  TrafficStats,
  UpstreamList,
  UpstreamSource,
} from './types.js';

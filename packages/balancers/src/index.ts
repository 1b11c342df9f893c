export { roundRobin } from './round-robin/index.js';
export type {
  Balancer,
  PeerView,
  Persistence,
  PickContext,
  RequestInfo,
  ResponseHead,
} from './types.js';

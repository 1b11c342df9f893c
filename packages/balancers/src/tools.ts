export { type KeyMappingSetup, type MovedKey, type MovedKeysOptions, movedKeys } from './moved-keys/index.js';
export {
  type PeerLoad,
  type SimFailure,
  type SimLatency,
  type SimPeer,
  type SimRequests,
  type SimulateOptions,
  type SimulateResult,
  simulate,
} from './simulate/index.js';
export { mulberry32 } from './simulate/prng.js';

import { SwitchyardError } from '@switchyard/internals';

export { InvalidOptionError, SwitchyardError } from '@switchyard/internals';

/**
 * A limit store (e.g. Redis) failed, rejected or answered later than `storeTimeoutMs`
 * (`SWY_ERR_LIMIT_STORE`). Reported to the `onError` option of `createLimits`, never
 * thrown at a request: the request passes (fail open), or with `failClosed` is refused
 * with the zone's status.
 */
export class LimitStoreError extends SwitchyardError {
  /** What the store was doing: `take` (limit_req), `acquire` or `release` (limit_conn). */
  readonly operation: string;
  /** The zones the failed call was about, in order. */
  readonly zones: readonly string[];
  constructor(operation: string, zones: readonly string[], message: string, cause?: unknown) {
    super('SWY_ERR_LIMIT_STORE', `limit store ${operation} (${zones.join(', ')}): ${message}`, { cause });
    this.operation = operation;
    this.zones = zones;
  }
}

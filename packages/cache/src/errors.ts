import { SwitchyardError } from '@switchyard/internals';

export { InvalidOptionError, SwitchyardError } from '@switchyard/internals';

/**
 * A cache store (e.g. Redis) failed or was too slow (`SWY_ERR_CACHE_STORE`). Reported to
 * the `onStoreError` option of `createCache`, never thrown at a request: the request goes
 * upstream instead (X-Cache-Status `MISS`) and nothing is stored.
 */
export class CacheStoreError extends SwitchyardError {
  /** What the store was doing: `get`, `set`, `delete`, `deletePrefix` or `deleteTag`. */
  readonly operation: string;
  constructor(operation: string, message: string, cause?: unknown) {
    super('SWY_ERR_CACHE_STORE', `cache store ${operation}: ${message}`, { cause });
    this.operation = operation;
  }
}

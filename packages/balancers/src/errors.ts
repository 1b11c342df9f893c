import { SwitchyardError } from '@switchyard/internals';

export { InvalidOptionError, SwitchyardError } from '@switchyard/internals';

/** A session store (e.g. Redis) failed; persistence falls back to the balancer. */
export class SessionStoreError extends SwitchyardError {
  constructor(message: string, cause?: unknown) {
    super('SWY_ERR_SESSION_STORE', message, { cause });
  }
}

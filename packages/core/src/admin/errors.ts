/**
 * Every error the admin API answers, by code: its HTTP status, its usual text, and whether
 * NGINX Plus answers it too (`nginx: true`, in NGINX Plus's words) or it is switchyard's
 * own. `docs/admin-api.md` lists each code under one of those two headings, and a test
 * (`examples/docs/admin-errors-doc.test.ts`) fails when the page and this table disagree.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_error
 */
export const ADMIN_ERRORS = {
  UpstreamConfFormatError: { status: 400, text: 'invalid server configuration', nginx: true },
  UpstreamBadAddress: { status: 400, text: 'invalid address', nginx: true },
  UpstreamBadWeight: { status: 400, text: 'invalid "weight"', nginx: true },
  UpstreamBadMaxConns: { status: 400, text: 'invalid "max_conns"', nginx: true },
  UpstreamBadMaxFails: { status: 400, text: 'invalid "max_fails"', nginx: true },
  UpstreamBadFailTimeout: { status: 400, text: 'invalid "fail_timeout"', nginx: true },
  UpstreamBadSlowStart: { status: 400, text: 'invalid "slow_start"', nginx: true },
  UpstreamBadRoute: { status: 400, text: 'route is too long', nginx: true },
  UpstreamBadService: { status: 400, text: '"service" is not supported', nginx: true },
  UpstreamBadServerId: { status: 400, text: 'invalid server ID', nginx: true },
  UpstreamServerImmutable: { status: 400, text: 'server is immutable', nginx: true },
  UnknownVersion: { status: 404, text: 'unknown version', nginx: true },
  PathNotFound: { status: 404, text: 'path not found', nginx: true },
  UpstreamNotFound: { status: 404, text: 'upstream not found', nginx: true },
  UpstreamServerNotFound: { status: 404, text: 'server does not exist', nginx: true },
  CacheNotFound: { status: 404, text: 'cache not found', nginx: true },
  LimitReqNotFound: { status: 404, text: 'limit_req not found', nginx: true },
  LimitConnNotFound: { status: 404, text: 'limit_conn not found', nginx: true },
  WorkerNotFound: { status: 404, text: 'worker not found', nginx: true },
  SlabNotFound: { status: 404, text: 'slab not found', nginx: true },
  ResolverZoneNotFound: { status: 404, text: 'resolver zone not found', nginx: true },
  ServerZoneNotFound: { status: 404, text: 'server zone not found', nginx: true },
  LocationZoneNotFound: { status: 404, text: 'location zone not found', nginx: true },
  KeyvalNotFound: { status: 404, text: 'keyval not found', nginx: true },
  MethodNotSupported: { status: 405, text: 'method not supported', nginx: true },
  MethodDisabled: { status: 405, text: 'method disabled', nginx: true },
  EntryExists: { status: 409, text: 'entry exists', nginx: true },
  BodyReadError: { status: 400, text: 'reading request body failed', nginx: false },
  CacheBadPurge: {
    status: 400,
    text: 'give ?key=… (a key, or a prefix ending in *) or ?tag=…',
    nginx: false,
  },
  Unauthorized: { status: 401, text: 'unauthorized', nginx: false },
  Forbidden: { status: 403, text: 'forbidden', nginx: false },
  CrossSiteRequest: { status: 403, text: 'cross-site write refused', nginx: false },
  HostNotAllowed: { status: 403, text: 'host not allowed', nginx: false },
  RequestEntityTooLarge: { status: 413, text: 'request entity too large', nginx: false },
  UnsupportedMediaType: {
    status: 415,
    text: 'writes take Content-Type: application/json',
    nginx: false,
  },
  JsonError: { status: 415, text: 'json error', nginx: false },
  InternalError: { status: 500, text: 'internal error', nginx: false },
} as const satisfies Record<string, { status: number; text: string; nginx: boolean }>;

/** A code of {@link ADMIN_ERRORS}. */
export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** An API error that a route returns (never throws out of the handler). */
export class ApiError {
  /** The HTTP status, from {@link ADMIN_ERRORS}. */
  readonly status: number;
  /** NGINX Plus's error code (or switchyard's own). */
  readonly code: AdminErrorCode;
  /** The error text. */
  readonly text: string;
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  readonly headers: Record<string, string> | undefined;
  /** The error `code`, with the table's text unless given a more precise one. */
  constructor(
    code: AdminErrorCode,
    text: string = ADMIN_ERRORS[code].text,
    headers?: Record<string, string>,
  ) {
    this.status = ADMIN_ERRORS[code].status;
    this.code = code;
    this.text = text;
    this.headers = headers;
  }
}

/** 404 `UnknownVersion`: the path names a version not served. */
export const unknownVersion = () => new ApiError('UnknownVersion');
/** 404 `PathNotFound`: no such endpoint. */
export const pathNotFound = () => new ApiError('PathNotFound');
/** 405 `MethodNotSupported`, with the `Allow` header. */
export const methodNotSupported = (allow: readonly string[]) =>
  new ApiError('MethodNotSupported', undefined, { allow: allow.join(', ') });
/** 405 `MethodDisabled`: writes are off (no `auth` configured), as with nginx `api write=off`. */
export const methodDisabled = () => new ApiError('MethodDisabled');
/** 404 `UpstreamNotFound`. */
export const upstreamNotFound = () => new ApiError('UpstreamNotFound');
/** 404 `UpstreamServerNotFound`. */
export const serverNotFound = (id: string) =>
  new ApiError('UpstreamServerNotFound', `server with ID "${id}" does not exist`);
/** 400 `UpstreamBadServerId`: the id is not a number. */
export const badServerId = () => new ApiError('UpstreamBadServerId');
/** 400 `UpstreamConfFormatError`: an unknown, nested or ill-typed parameter. */
export const formatError = (text: string) => new ApiError('UpstreamConfFormatError', text);
/** 415 `JsonError`: the body is not a JSON object. */
export const jsonError = () => new ApiError('JsonError');

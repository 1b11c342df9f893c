import type { ServerResponse } from 'node:http';

/** Where NGINX Plus error objects point to. */
export const API_DOCS = 'https://nginx.org/en/docs/http/ngx_http_api_module.html';

/**
 * The body of an API error, in NGINX Plus's shape.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_error
 */
export interface AdminErrorBody {
  /** The error: its HTTP status, a short text and NGINX Plus's error code. */
  error: {
    /** The HTTP status. */
    status: number;
    /** What went wrong, in a few words. */
    text: string;
    /** NGINX Plus's error code, e.g. `UpstreamServerNotFound`. */
    code: string;
  };
  /** The request's id (nginx `$request_id`: 32 hex digits). */
  request_id: string;
  /** A link to the API reference. */
  href: string;
}

/** An API error that a route returns (never throws out of the handler). */
export class ApiError {
  /** The HTTP status. */
  readonly status: number;
  /** NGINX Plus's error code. */
  readonly code: string;
  /** The error text. */
  readonly text: string;
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  readonly headers: Record<string, string> | undefined;
  constructor(status: number, code: string, text: string, headers?: Record<string, string>) {
    this.status = status;
    this.code = code;
    this.text = text;
    this.headers = headers;
  }
}

/** 404 `UnknownVersion`: the path names a version not served. */
export const unknownVersion = () => new ApiError(404, 'UnknownVersion', 'unknown version');
/** 404 `PathNotFound`: no such endpoint. */
export const pathNotFound = () => new ApiError(404, 'PathNotFound', 'path not found');
/** 405 `MethodNotSupported`, with the `Allow` header. */
export const methodNotSupported = (allow: readonly string[]) =>
  new ApiError(405, 'MethodNotSupported', 'method not supported', { allow: allow.join(', ') });
/** 405 `MethodDisabled`: writes are off (no `auth` configured), as with nginx `api write=off`. */
export const methodDisabled = () => new ApiError(405, 'MethodDisabled', 'method disabled');
/** 404 `UpstreamNotFound`. */
export const upstreamNotFound = () => new ApiError(404, 'UpstreamNotFound', 'upstream not found');
/** 404 `UpstreamServerNotFound`. */
export const serverNotFound = (id: string) =>
  new ApiError(404, 'UpstreamServerNotFound', `server with ID "${id}" does not exist`);
/** 400 `UpstreamBadServerId`: the id is not a number. */
export const badServerId = () => new ApiError(400, 'UpstreamBadServerId', 'invalid server ID');
/** 400 `UpstreamConfFormatError`: an unknown, nested or ill-typed parameter. */
export const formatError = (text: string) => new ApiError(400, 'UpstreamConfFormatError', text);
/** 415 `JsonError`: the body is not a JSON object. */
export const jsonError = () => new ApiError(415, 'JsonError', 'json error');

/** Sends a JSON body; `undefined` sends no body (204). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Sends an {@link ApiError} in NGINX Plus's shape. */
export function sendError(res: ServerResponse, err: ApiError, requestId: string): void {
  const body: AdminErrorBody = {
    error: { status: err.status, text: err.text, code: err.code },
    request_id: requestId,
    href: API_DOCS,
  };
  sendJson(res, err.status, body, err.headers);
}

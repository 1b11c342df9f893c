import type { ServerResponse } from 'node:http';
import type { ApiError } from './errors.js';

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

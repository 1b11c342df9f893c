import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyCachedResponse } from './options.js';

/** The proxy's own short answers, as nginx words them. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: '400 Bad Request',
  413: '413 Request Entity Too Large',
  429: '429 Too Many Requests',
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error',
  501: '501 Not Implemented',
  502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable',
  504: '504 Gateway Timeout',
};

/**
 * The proxy's short answer for any status: nginx's wording where the table has it, else
 * the status and Node's reason phrase (a `limit_req_status` may be any of 400..599).
 */
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
}

/**
 * Answers with a short text body; `close` asks an HTTP/1.x client to close the
 * connection. A response whose head already went out can only be cut.
 */
export function sendText(res: ServerResponse, status: number, message: string, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  // HTTP/2 has no Connection field (RFC 9113 §8.2.2; Node drops it with a warning), and
  // closing the connection would end the client's other streams too.
  if (close && res.req?.httpVersionMajor !== 2) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** Answers a rewrite rule's `return` (with its text) or redirect (with its `location`). */
export function sendAnswer(res: ServerResponse, status: number, body: string, location?: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
  if (body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
  if (location !== undefined) {
    // A Location built from the request may hold characters Node refuses to send.
    if (INVALID_HEADER_VALUE.test(location)) {
      sendText(res, 500, STATUS_TEXT[500] as string);
      return;
    }
    headers.location = location;
  }
  res.writeHead(status, headers);
  res.end(body);
}

/** Sends a response a cache gave: a hit, a stale entry, or a revalidated one. */
export function sendCached(res: ServerResponse, r: ProxyCachedResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, r.headers);
  const body = r.body;
  if (body === null || Buffer.isBuffer(body)) {
    // 'finish': the body was handed to the kernel whole (not on 'close' after an abort).
    if (r.finished !== undefined) res.once('finish', r.finished);
    res.end(body ?? undefined);
    return;
  }
  // A streamed entry (disk cache): destroyed, without an error, when the client goes; a
  // failure cuts the response off (its Content-Length is already out); the cache reports it.
  const gone = (): void => {
    body.destroy();
  };
  res.once('close', gone);
  body.once('end', () => res.off('close', gone));
  body.once('error', () => {
    res.off('close', gone);
    res.destroy();
  });
  body.pipe(res);
}

/** Characters Node refuses in a header value. */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Answers on the raw socket of an upgrade request, and closes it. */
export function rawAnswer(socket: Duplex, status: number, body: string, location?: string): void {
  if (socket.destroyed) return;
  if (location !== undefined && INVALID_HEADER_VALUE.test(location)) {
    rawText(socket, 500);
    return;
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  if (body !== '') head += 'content-type: text/plain; charset=utf-8\r\n';
  if (location !== undefined) head += `location: ${location}\r\n`;
  socket.end(`${head}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** The proxy's own short answer (400, 502, 504…) on the raw socket of an upgrade request. */
export function rawText(socket: Duplex, status: number): void {
  rawAnswer(socket, status, `${statusText(status)}\n`);
}

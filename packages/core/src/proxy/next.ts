/**
 * nginx's rules for passing a request to the next peer (`ngx_http_upstream_next`), as a
 * pure function of what happened and what the request allows.
 */

/** What made an attempt fail: an error, a timeout, or a response status. */
export type Condition = 'error' | 'timeout' | number;

/** The `proxy_next_upstream*` settings. */
export interface NextPolicy {
  /** `error` is listed. */
  readonly nextOnError: boolean;
  /** `timeout` is listed. */
  readonly nextOnTimeout: boolean;
  /** The `http_NNN` statuses listed. */
  readonly nextStatuses: ReadonlySet<number>;
  /** `proxy_next_upstream_tries`: attempts at most; 0 = every peer once. */
  readonly tries: number;
  /** `proxy_next_upstream_timeout` in ms; 0 = no limit. */
  readonly tryTimeoutMs: number;
  /** `non_idempotent` is listed. */
  readonly nonIdempotent: boolean;
}

/** One request at the moment an attempt failed. */
export interface NextState {
  /** What made the attempt fail. */
  readonly condition: Condition;
  /** Bytes of the request reached the peer (not a refused connect). */
  readonly requestSent: boolean;
  /** The request method. */
  readonly method: string;
  /** Attempts made so far, the failed one included. */
  readonly attempts: number;
  /** Peers the group could try for one request (`Upstream.maxTries()`). */
  readonly peers: number;
  /** Time since the first attempt started, ms. */
  readonly elapsedMs: number;
  /** The body can be sent again: none, rebuilt in memory, or a stream not read yet. */
  readonly bodyReplayable: boolean;
  /** The client went away. */
  readonly clientGone: boolean;
}

/** Why a failed request goes no further. */
export type Stop = 'not-listed' | 'client-gone' | 'timeout' | 'non-idempotent' | 'body-sent' | 'tries';

/** Methods nginx will not resend once the request went out (`non_idempotent`). */
const NON_IDEMPOTENT = new Set(['POST', 'PATCH', 'LOCK']);

/**
 * Whether the request may be sent again at all, to any peer: the condition is listed,
 * the client is still there, `proxy_next_upstream_timeout` has not passed, and the method
 * and the body allow it. `true`, or the reason it may not.
 */
export function mayRepeat(policy: NextPolicy, s: NextState): true | Stop {
  const c = s.condition;
  const listed =
    c === 'error' ? policy.nextOnError : c === 'timeout' ? policy.nextOnTimeout : policy.nextStatuses.has(c);
  if (!listed) return 'not-listed';
  if (s.clientGone) return 'client-gone';
  if (policy.tryTimeoutMs !== 0 && s.elapsedMs >= policy.tryTimeoutMs) return 'timeout';
  if (s.requestSent && !policy.nonIdempotent && NON_IDEMPOTENT.has(s.method)) return 'non-idempotent';
  // A streamed body that was partly read cannot be sent again (nginx: request_body_no_buffering).
  if (!s.bodyReplayable) return 'body-sent';
  return true;
}

/**
 * nginx `ngx_http_upstream_next`: whether a failed attempt goes to the next peer. Beyond
 * `mayRepeat`, the attempts stay within `proxy_next_upstream_tries` and the peers the
 * group has.
 */
export function nextUpstream(policy: NextPolicy, s: NextState): true | Stop {
  const may = mayRepeat(policy, s);
  if (may !== true) return may;
  const limit = policy.tries === 0 ? s.peers : Math.min(policy.tries, s.peers);
  return s.attempts < limit ? true : 'tries';
}

/**
 * Whether an attempt may go again, on a new connection to the same peer, after a
 * kept-alive connection broke before any byte of the response. nginx counts no try for a
 * cached connection's error ("TODO: inform balancer instead"); here it is no failure of
 * the peer either. Each broken connection leaves the pool, so a request is sent again at
 * most once per pooled connection (`connections`; 0 = no cap).
 */
export function mayResend(
  policy: NextPolicy,
  s: Omit<NextState, 'condition' | 'requestSent'>,
  resends: number,
  connections: number,
): boolean {
  if (connections !== 0 && resends >= connections) return false;
  return mayRepeat(policy, { ...s, condition: 'error', requestSent: true }) === true;
}

/** Codes of errors raised before any byte of the request reached the peer. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

const TIMEOUT_ERRORS = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Errors of a connection that broke: reset, closed by the peer, broken pipe. */
const RESET_ERRORS = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The error code undici or the socket gave, or `''`. */
export function codeOf(err: Error): string {
  return (err as { code?: string }).code ?? '';
}

/** How nginx classes a failed attempt: a timeout, or any other error. */
export function failureOf(code: string): 'error' | 'timeout' {
  return TIMEOUT_ERRORS.has(code) ? 'timeout' : 'error';
}

/**
 * OpenSSL's certificate verification results (`X509_V_ERR_*`) as Node names them, and
 * Node's own checks of the peer's certificate: each ends the TLS handshake.
 */
const CERT_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'ERR_TLS_DH_PARAM_SIZE',
]);

/**
 * Whether the error is a failed TLS handshake with the peer: its certificate did not
 * verify, or OpenSSL refused the exchange (`ERR_SSL_*`: an alert from the peer, a peer
 * that speaks no TLS; `EPROTO` on older OpenSSL). undici passes the socket's error on
 * as it came, so its code is Node's.
 */
export function tlsHandshakeFailed(code: string): boolean {
  return CERT_ERRORS.has(code) || code.startsWith('ERR_SSL_') || code === 'EPROTO';
}

/**
 * Whether bytes of the request may have reached the peer before this error. Not after a
 * refused or timed-out connect, nor after a failed TLS handshake: nginx sends the request
 * only once `ngx_ssl_handshake` succeeded, so the next peer may have even a POST.
 */
export function requestSent(code: string): boolean {
  return !CONNECT_ERRORS.has(code) && !tlsHandshakeFailed(code);
}

/**
 * Whether an attempt broke, before any byte of its response, on a kept-alive connection
 * that had already carried a response: the peer closed it while it was idle (nginx
 * `peer.cached`). undici's socket errors carry the bytes their socket had read.
 */
export function staleConnection(err: Error, code: string): boolean {
  if (!RESET_ERRORS.has(code)) return false;
  const bytesRead = (err as { socket?: { bytesRead?: number } }).socket?.bytesRead;
  return bytesRead !== undefined && bytesRead > 0;
}

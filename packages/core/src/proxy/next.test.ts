import { describe, expect, it } from 'vitest';
import {
  failureOf,
  mayResend,
  type NextPolicy,
  type NextState,
  nextUpstream,
  requestSent,
  staleConnection,
  tlsHandshakeFailed,
} from './next.js';

/** nginx's defaults: `proxy_next_upstream error timeout`, no tries or time limit. */
const DEFAULTS: NextPolicy = {
  nextOnError: true,
  nextOnTimeout: true,
  nextStatuses: new Set(),
  tries: 0,
  tryTimeoutMs: 0,
  nonIdempotent: false,
};

const FIRST: NextState = {
  condition: 'error',
  requestSent: false,
  method: 'GET',
  attempts: 1,
  peers: 3,
  elapsedMs: 0,
  bodyReplayable: true,
  clientGone: false,
};

describe('nextUpstream: nginx ngx_http_upstream_next as a pure function', () => {
  it('passes an error or a timeout on to the next peer by default', () => {
    expect(nextUpstream(DEFAULTS, FIRST)).toBe(true);
    expect(nextUpstream(DEFAULTS, { ...FIRST, condition: 'timeout' })).toBe(true);
  });

  it('passes on only the conditions listed', () => {
    const off: NextPolicy = { ...DEFAULTS, nextOnError: false, nextOnTimeout: false };
    expect(nextUpstream(off, FIRST)).toBe('not-listed');
    expect(nextUpstream(off, { ...FIRST, condition: 'timeout' })).toBe('not-listed');
    expect(nextUpstream(DEFAULTS, { ...FIRST, condition: 502 })).toBe('not-listed');
    const http502: NextPolicy = { ...DEFAULTS, nextStatuses: new Set([502]) };
    expect(nextUpstream(http502, { ...FIRST, condition: 502, requestSent: true })).toBe(true);
    expect(nextUpstream(http502, { ...FIRST, condition: 503, requestSent: true })).toBe('not-listed');
  });

  it('tries every peer once when tries is 0, and no more than tries otherwise', () => {
    expect(nextUpstream(DEFAULTS, { ...FIRST, attempts: 2 })).toBe(true);
    expect(nextUpstream(DEFAULTS, { ...FIRST, attempts: 3 })).toBe('tries');
    const two: NextPolicy = { ...DEFAULTS, tries: 2 };
    expect(nextUpstream(two, { ...FIRST, attempts: 1 })).toBe(true);
    expect(nextUpstream(two, { ...FIRST, attempts: 2 })).toBe('tries');
    // tries above the group's size still stops at its peers.
    expect(nextUpstream({ ...DEFAULTS, tries: 10 }, { ...FIRST, attempts: 3 })).toBe('tries');
  });

  it('stops once proxy_next_upstream_timeout has passed since the first attempt', () => {
    const timed: NextPolicy = { ...DEFAULTS, tryTimeoutMs: 100 };
    expect(nextUpstream(timed, { ...FIRST, elapsedMs: 99 })).toBe(true);
    expect(nextUpstream(timed, { ...FIRST, elapsedMs: 100 })).toBe('timeout');
  });

  it('does not resend POST, PATCH or LOCK once the request went out, unless non_idempotent', () => {
    for (const method of ['POST', 'PATCH', 'LOCK']) {
      expect(nextUpstream(DEFAULTS, { ...FIRST, method, requestSent: true })).toBe('non-idempotent');
      // A refused connect sent nothing: the next peer may have it.
      expect(nextUpstream(DEFAULTS, { ...FIRST, method, requestSent: false })).toBe(true);
      expect(
        nextUpstream({ ...DEFAULTS, nonIdempotent: true }, { ...FIRST, method, requestSent: true }),
      ).toBe(true);
    }
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) {
      expect(nextUpstream(DEFAULTS, { ...FIRST, method, requestSent: true })).toBe(true);
    }
  });

  it('does not resend a streamed body that was read, nor for a client that left', () => {
    expect(nextUpstream(DEFAULTS, { ...FIRST, bodyReplayable: false })).toBe('body-sent');
    expect(nextUpstream(DEFAULTS, { ...FIRST, clientGone: true })).toBe('client-gone');
  });
});

describe('mayResend: a stale kept-alive connection', () => {
  const rest = {
    method: 'GET',
    attempts: 1,
    peers: 1,
    elapsedMs: 0,
    bodyReplayable: true,
    clientGone: false,
  };

  it('sends again once per pooled connection, and without a cap when connections is 0', () => {
    expect(mayResend(DEFAULTS, rest, 0, 2)).toBe(true);
    expect(mayResend(DEFAULTS, rest, 1, 2)).toBe(true);
    expect(mayResend(DEFAULTS, rest, 2, 2)).toBe(false);
    expect(mayResend(DEFAULTS, rest, 500, 0)).toBe(true);
  });

  it('follows the rules for sending a request again: not a sent POST, not after the client left', () => {
    expect(mayResend(DEFAULTS, { ...rest, method: 'POST' }, 0, 2)).toBe(false);
    expect(mayResend(DEFAULTS, { ...rest, clientGone: true }, 0, 2)).toBe(false);
    expect(mayResend({ ...DEFAULTS, nextOnError: false }, rest, 0, 2)).toBe(false);
  });
});

describe('classifying an attempt error', () => {
  it('takes undici timeouts as timeout and the rest as error', () => {
    expect(failureOf('UND_ERR_HEADERS_TIMEOUT')).toBe('timeout');
    expect(failureOf('UND_ERR_CONNECT_TIMEOUT')).toBe('timeout');
    expect(failureOf('UND_ERR_BODY_TIMEOUT')).toBe('timeout');
    expect(failureOf('ECONNREFUSED')).toBe('error');
    expect(failureOf('UND_ERR_SOCKET')).toBe('error');
  });

  it('knows which errors came before any byte of the request was sent', () => {
    expect(requestSent('ECONNREFUSED')).toBe(false);
    expect(requestSent('UND_ERR_CONNECT_TIMEOUT')).toBe(false);
    expect(requestSent('ECONNRESET')).toBe(true);
    expect(requestSent('UND_ERR_HEADERS_TIMEOUT')).toBe(true);
  });

  it('counts a failed TLS handshake as nothing sent, so the next peer may have even a POST', () => {
    const handshake = [
      'ERR_SSL_WRONG_VERSION_NUMBER',
      'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'CERT_HAS_EXPIRED',
      'CERT_NOT_YET_VALID',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'EPROTO',
    ];
    for (const code of handshake) {
      expect([code, tlsHandshakeFailed(code), requestSent(code), failureOf(code)]).toEqual([
        code,
        true,
        false,
        'error',
      ]);
      const state = { ...FIRST, method: 'POST', requestSent: requestSent(code) };
      expect([code, nextUpstream(DEFAULTS, state)]).toEqual([code, true]);
    }
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'ERR_TLS_RENEGOTIATION_DISABLED', '']) {
      expect([code, tlsHandshakeFailed(code)]).toEqual([code, false]);
    }
  });

  it('calls a reset stale only on a connection that had read a response before', () => {
    const reset = (bytesRead: number | undefined) =>
      Object.assign(new Error('other side closed'), {
        socket: bytesRead === undefined ? undefined : { bytesRead },
      });
    expect(staleConnection(reset(120), 'UND_ERR_SOCKET')).toBe(true);
    expect(staleConnection(reset(0), 'UND_ERR_SOCKET')).toBe(false);
    expect(staleConnection(reset(undefined), 'ECONNRESET')).toBe(false);
    expect(staleConnection(reset(120), 'UND_ERR_HEADERS_TIMEOUT')).toBe(false);
  });
});

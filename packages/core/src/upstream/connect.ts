import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import type { Peer } from '../peer/index.js';
import type { Upstream } from './index.js';

/**
 * The TLS server name for a peer (nginx `proxy_ssl_name`): its group's `tls.servername`,
 * else the peer's own host (an IPv6 address without its brackets). Never the client's Host.
 *
 * @internal
 */
export function peerServerName(peer: Peer, group: Upstream | undefined): string {
  return group?.tlsContext?.servername ?? new URL(peer.origin).hostname.replace(/^\[|\]$/g, '');
}

/**
 * undici's connector for one peer, as its group says: the peer's unix socket, the group's
 * TLS settings, and the server name {@link peerServerName} gives, whatever name undici
 * derived from the request's Host. The proxy's pools and anything else that connects to
 * peers (an active health check) build theirs with it.
 *
 * @internal
 */
export function peerConnector(
  peer: Peer,
  group: Upstream | undefined,
  options: { timeoutMs: number; allowH2?: boolean },
): buildConnector.connector {
  const tls = group?.tlsContext;
  const base = buildConnector({
    timeout: options.timeoutMs,
    // undici 8 offers h2 unless told not to.
    allowH2: options.allowH2 ?? false,
    socketPath: peer.socketPath,
    ...(tls === undefined
      ? {}
      : { secureContext: tls.secureContext, rejectUnauthorized: tls.rejectUnauthorized }),
  });
  const name = peerServerName(peer, group);
  // RFC 6066 §3: no SNI for an IP address; Node then checks the certificate against it.
  const servername = isIP(name) === 0 ? name : undefined;
  return (connectOptions, callback) => base({ ...connectOptions, servername }, callback);
}

import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { boolAt, knownKeys, objectAt, stringAt } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';

/** PEM text, or several: a string, a Buffer, or a list of either. */
export type PemInput = string | Buffer | Array<string | Buffer>;

/**
 * How the proxy speaks TLS to the `https://` peers of a group: nginx's `proxy_ssl_*`
 * directives. Peers given as `http://` or `unix:` ignore it.
 *
 * @example
 * ```ts
 * const api = createUpstream({
 *   name: 'api',
 *   servers: ['https://api-1.internal:8443', 'https://api-2.internal:8443'],
 *   tls: { ca: readFileSync('internal-ca.pem'), cert: readFileSync('proxy.pem'), key: readFileSync('proxy.key') },
 * });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_verify
 */
export interface UpstreamTlsOptions {
  /**
   * The certificates peers are verified against, PEM (nginx `proxy_ssl_trusted_certificate`).
   * Given, they replace Node's bundled root certificates for this group, so a private CA
   * needs no `NODE_EXTRA_CA_CERTS`. @default Node's root certificates
   */
  ca?: PemInput;
  /** The client certificate shown to peers that ask for one, PEM (nginx `proxy_ssl_certificate`). */
  cert?: PemInput;
  /** The private key of `cert`, PEM (nginx `proxy_ssl_certificate_key`). Required with `cert`. */
  key?: PemInput;
  /** The passphrase of an encrypted `key` (nginx `proxy_ssl_password_file`). */
  passphrase?: string;
  /**
   * The name sent in SNI and checked against each peer's certificate (nginx
   * `proxy_ssl_name` with `proxy_ssl_server_name on`). Never the client's `Host`.
   * @default each peer's own host name; an IP-address peer sends no SNI and is checked against its IP
   */
  servername?: string;
  /**
   * Refuse a peer whose certificate does not verify (nginx `proxy_ssl_verify`). nginx's
   * default is `off`; switchyard verifies unless told not to.
   * @default true
   */
  rejectUnauthorized?: boolean;
}

/**
 * A group's TLS settings, checked once when the group is built.
 *
 * @internal
 */
export interface ResolvedTls {
  /** The options as given. */
  readonly options: Readonly<UpstreamTlsOptions>;
  /** `ca`, `cert` and `key`, parsed once for every connection. */
  readonly secureContext: SecureContext;
  readonly rejectUnauthorized: boolean;
  readonly servername: string | undefined;
}

const TLS_KEYS = ['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized'] as const;

/**
 * Checks a group's `tls` option and parses its certificates now, so that a bad PEM or a
 * key that does not match its certificate fails when the group is built.
 *
 * @internal
 */
export function resolveTls(path: string, v: unknown): ResolvedTls | undefined {
  if (v === undefined) return undefined;
  const o = objectAt(path, v);
  knownKeys(path, o, TLS_KEYS);
  for (const k of ['ca', 'cert', 'key'] as const) {
    if (o[k] !== undefined && !isPem(o[k])) {
      throw new InvalidOptionError(`${path}.${k}`, 'PEM text: a string, a Buffer, or an array of them', o[k]);
    }
  }
  if ((o.cert === undefined) !== (o.key === undefined)) {
    const missing = o.cert === undefined ? 'cert' : 'key';
    const given = missing === 'cert' ? 'key' : 'cert';
    throw new InvalidOptionError(
      `${path}.${missing}`,
      '',
      undefined,
      `${path}.${missing}: required with ${path}.${given} (a client certificate needs its key)`,
    );
  }
  const passphrase = o.passphrase === undefined ? undefined : stringAt(`${path}.passphrase`, o.passphrase);
  const servername = o.servername === undefined ? undefined : stringAt(`${path}.servername`, o.servername);
  // RFC 6066 §3: SNI carries host names only, never an IP address.
  if (servername !== undefined && isIP(servername) !== 0) {
    throw new InvalidOptionError(`${path}.servername`, 'a host name, not an IP address', servername);
  }
  const rejectUnauthorized = boolAt(`${path}.rejectUnauthorized`, o.rejectUnauthorized, true);
  const ca = o.ca as PemInput | undefined;
  const cert = o.cert as PemInput | undefined;
  const key = o.key as PemInput | undefined;
  if (ca !== undefined) checkCertificates(`${path}.ca`, ca);
  const secureContext = secureContextAt(cert === undefined ? `${path}.ca` : `${path}.cert`, {
    ca,
    cert,
    key,
    passphrase,
  });
  return {
    options: o as Readonly<UpstreamTlsOptions>,
    secureContext,
    rejectUnauthorized,
    servername,
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/**
 * OpenSSL skips what is no certificate in `ca` without a word: a file name given for its
 * contents, or a damaged block, would leave the group trusting nothing. Each block is read.
 */
function checkCertificates(path: string, ca: PemInput): void {
  for (const pem of Array.isArray(ca) ? ca : [ca]) {
    const blocks = pem.toString('latin1').match(PEM_CERTIFICATE);
    if (blocks === null) {
      throw new InvalidOptionError(path, 'PEM certificates (-----BEGIN CERTIFICATE-----)', show(ca));
    }
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (err) {
        const why = (err as Error).message;
        throw new InvalidOptionError(path, '', undefined, `${path}: OpenSSL cannot use it (${why})`);
      }
    }
  }
}

/** A Buffer shows as text in a message, at most its first 40 characters. */
function show(v: PemInput): string | string[] {
  const one = (x: string | Buffer) => {
    const text = x.toString('latin1');
    return text.length > 40 ? `${text.slice(0, 40)}…` : text;
  };
  return Array.isArray(v) ? v.map(one) : one(v);
}

function isPem(v: unknown): boolean {
  const one = (x: unknown) => typeof x === 'string' || Buffer.isBuffer(x);
  return one(v) || (Array.isArray(v) && v.length > 0 && v.every(one));
}

function secureContextAt(
  path: string,
  options: { ca?: PemInput; cert?: PemInput; key?: PemInput; passphrase?: string | undefined },
): SecureContext {
  try {
    return createSecureContext(options);
  } catch (err) {
    // The value is PEM text: the message names what OpenSSL said, not the text itself.
    const why = (err as Error).message;
    throw new InvalidOptionError(path, '', undefined, `${path}: OpenSSL cannot use it (${why})`);
  }
}

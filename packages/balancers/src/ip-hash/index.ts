import {
  FALLBACK,
  FirstSight,
  type HashSteps,
  hashBalancer,
  walkWeighted,
  weightLine,
} from '../hash/walk.js';
import { LastTable } from '../tables.js';
import type { Balancer } from '../types.js';

/**
 * Writes the bytes nginx's `ip_hash` hashes for `ip` into `out` and says how many:
 * 3 for IPv4 (the first three octets, so a /24 shares a peer), 16 for IPv6, and 3 for
 * an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`), which is how nginx listening on IPv4
 * sees that client. Anything else (no address, a Unix socket, unparsable text) hashes as
 * nginx's pseudo address, three zero bytes. `out` must hold 16 bytes. No allocation.
 */
export function ipHashBytes(ip: string | undefined, out: Uint8Array): number {
  if (ip !== undefined) {
    if (parseIpv4(ip, 0, ip.length, out, 0)) return 3;
    if (parseIpv6(ip, out)) {
      let mapped = out[10] === 0xff && out[11] === 0xff;
      for (let i = 0; i < 10 && mapped; i++) if (out[i] !== 0) mapped = false;
      if (!mapped) return 16;
      out[0] = out[12] as number;
      out[1] = out[13] as number;
      out[2] = out[14] as number;
      return 3;
    }
  }
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  return 3;
}

/** Dotted-quad IPv4 in `s[from, to)` into `out[at…at+3]`. */
function parseIpv4(s: string, from: number, to: number, out: Uint8Array, at: number): boolean {
  let octet = 0;
  let digits = 0;
  let part = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : 0x2e; /* a final "." closes the last octet */
    if (c >= 0x30 && c <= 0x39) {
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3 || octet > 255) return false;
    } else if (c === 0x2e && digits > 0 && part < 4) {
      out[at + part++] = octet;
      octet = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** IPv6 text (brackets and a `%zone` allowed, an IPv4 tail too) into 16 bytes. */
function parseIpv6(s: string, out: Uint8Array): boolean {
  let from = 0;
  let to = s.length;
  if (s.charCodeAt(0) === 0x5b /* [ */) {
    if (s.charCodeAt(to - 1) !== 0x5d /* ] */) return false;
    from = 1;
    to--;
  }
  const zone = s.indexOf('%', from);
  if (zone >= 0 && zone < to) to = zone;
  if (to - from < 2) return false;
  let n = 0; // bytes written
  let gap = -1; // where "::" stood, in bytes
  let i = from;
  if (s.charCodeAt(i) === 0x3a) {
    if (s.charCodeAt(i + 1) !== 0x3a) return false;
    gap = 0;
    i += 2;
  }
  while (i < to) {
    if (n === 16) return false;
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < to; j++) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) break;
      value = (value << 4) | h;
      if (++digits > 4) return false;
    }
    if (j < to && s.charCodeAt(j) === 0x2e) {
      // An IPv4 tail: the last 4 bytes.
      if (n > 12 || !parseIpv4(s, i, to, out, n)) return false;
      n += 4;
      i = to;
      break;
    }
    if (digits === 0) return false;
    out[n++] = value >> 8;
    out[n++] = value & 0xff;
    if (j === to) {
      i = to;
      break;
    }
    if (s.charCodeAt(j) !== 0x3a) return false;
    if (s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return false;
      gap = n;
      i = j + 2;
    } else {
      if (j + 1 === to) return false;
      i = j + 1;
    }
  }
  if (gap < 0) return n === 16;
  if (n === 16) return false;
  // Move what followed "::" to the end and zero the gap.
  const tail = n - gap;
  for (let k = 1; k <= tail; k++) out[16 - k] = out[n - k] as number;
  for (let k = gap; k < 16 - tail; k++) out[k] = 0;
  return true;
}

/**
 * The hash steps of `ngx_http_upstream_get_ip_hash_peer`: from 89, hash = (hash × 113 +
 * byte) % 6271 over the address bytes, and again over the same bytes on each further
 * try. Set `addr` (with {@link ipHashBytes}) and `len` before each walk.
 */
class IpSteps implements HashSteps {
  readonly start = 89;
  readonly addr = new Uint8Array(16);
  len = 3;

  next(_n: number, prev: number): number {
    const addr = this.addr;
    let hash = prev;
    for (let b = 0; b < this.len; b++) hash = (hash * 113 + (addr[b] as number)) % 6271;
    return hash;
  }
}

/**
 * nginx's `ip_hash` on `ctx.clientIp`, as in nginx 1.22
 * (`ngx_http_upstream_ip_hash_module`): clients of one IPv4 /24 (the first three
 * octets), or one whole IPv6 address, go to the same peer. A peer that is unavailable or
 * already tried is hashed past (its weight still counts, so other clients keep their
 * peer), and after 20 unusable picks, or with a single peer, it falls back to round robin.
 *
 * `::ffff:a.b.c.d` counts as the IPv4 client `a.b.c.d`; a missing or unparsable address
 * hashes like nginx's Unix-socket clients (all to one peer).
 *
 * The total and cumulative weights are built once per `peers` array and trusted afterwards
 * (the array keeps its identity until membership or a weight changes, see `Balancer.pick`).
 *
 * @returns a {@link Balancer}; `failed()` feeds the round-robin fallback.
 * @example
 * ```ts
 * const sticky = ipHash();
 * sticky.pick(peers, { clientIp: req.socket.remoteAddress });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#ip_hash
 */
export function ipHash(): Balancer {
  const seen = new FirstSight();
  const steps = new IpSteps();
  const lines = new LastTable(weightLine);
  return hashBalancer('ip-hash', (peers, ctx, out) => {
    // nginx: one peer goes to round robin.
    if (peers.length < 2) return FALLBACK;
    // explain() walks with state of its own, so that it changes nothing.
    const s = out === undefined ? steps : new IpSteps();
    s.len = ipHashBytes(ctx.clientIp, s.addr);
    if (out === undefined) return walkWeighted(lines.get(peers), peers, s, ctx.tried, seen, undefined);
    return walkWeighted(weightLine(peers), peers, s, ctx.tried, new FirstSight(), out);
  });
}

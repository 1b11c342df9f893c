import { createHash } from 'node:crypto';
import { sign } from 'cookie-signature';
import { describe, expect, it } from 'vitest';
import type { PeerView, RequestInfo, ResponseHead } from '../../types.js';
import { stickyCookie } from './index.js';

const peer = (id: string): PeerView => ({ id, weight: 1, active: 0, responseTimeMs: 0, available: true });
const peers = [peer('10.0.0.1:80'), peer('10.0.0.2:80'), peer('10.0.0.3:80')];
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const req = (cookie?: string): RequestInfo => ({
  method: 'GET',
  url: '/',
  headers: cookie === undefined ? {} : { cookie },
});
function head(): ResponseHead & { set: string[] } {
  const set: string[] = [];
  return {
    statusCode: 200,
    set,
    getHeader: () => undefined,
    getHeaders: () => [],
    appendHeader: (name, value) => {
      if (name === 'set-cookie') set.push(value);
    },
  };
}

describe('stickyCookie', () => {
  it('names the peer by the MD5 of its address, as NGINX Plus does', () => {
    const s = stickyCookie({
      name: 'srv',
      expiresMs: 3_600_000,
      domain: 'example.com',
      httpOnly: true,
      sameSite: 'lax',
    });
    const h = head();
    s.bind(req(), h, peers[1] as PeerView);
    expect(h.set).toEqual([
      `srv=${md5('10.0.0.2:80')}; Max-Age=3600; Domain=example.com; Path=/; HttpOnly; SameSite=Lax`,
    ]);
    expect(s.find(req(`a=b; srv=${md5('10.0.0.2:80')}`), peers)).toBe(peers[1]);
  });

  it('does not set the cookie again when the request already carries it', () => {
    const s = stickyCookie();
    const h = head();
    s.bind(req(`srv_id=${md5('10.0.0.1:80')}`), h, peers[0] as PeerView);
    expect(h.set).toEqual([]);
  });

  it('leaves the choice to the balancer for a missing, unknown or malformed cookie', () => {
    const s = stickyCookie();
    expect(s.find(req(), peers)).toBeUndefined();
    expect(s.find(req('srv_id=0123456789abcdef0123456789abcdef'), peers)).toBeUndefined();
    expect(s.find(req('srv_id=%E0%A4%A'), peers)).toBeUndefined();
  });

  it('with a secret, ignores a forged or unsigned cookie and accepts a signed one', () => {
    const s = stickyCookie({ secret: 'k1' });
    const token = md5('10.0.0.3:80');
    expect(s.find(req(`srv_id=${token}`), peers)).toBeUndefined();
    expect(s.find(req(`srv_id=${token}.forgedsignature`), peers)).toBeUndefined();
    expect(s.find(req(`srv_id=${encodeURIComponent(sign(token, 'k1'))}`), peers)).toBe(peers[2]);
  });

  it('rotates keys: accepts an old key and re-issues the cookie with the first', () => {
    const s = stickyCookie({ secret: ['k2', 'k1'], expiresMs: 'max' });
    const token = md5('10.0.0.3:80');
    const old = `srv_id=${encodeURIComponent(sign(token, 'k1'))}`;
    expect(s.find(req(old), peers)).toBe(peers[2]);
    const h = head();
    s.bind(req(old), h, peers[2] as PeerView);
    expect(h.set).toEqual([`srv_id=${encodeURIComponent(sign(token, 'k2'))}; Max-Age=315360000; Path=/`]);
  });

  it('rejects bad options with the option path', () => {
    expect(() => stickyCookie({ name: 'bad name' })).toThrow(
      'name: expected a cookie name (an RFC 9110 token), got "bad name"',
    );
    expect(() => stickyCookie({ secret: ['ok', ''] })).toThrow(
      'secret[1]: expected a non-empty string, got ""',
    );
    expect(() => stickyCookie({ expiresMs: 999 })).toThrow(
      'expiresMs: expected an integer of at least 1000 (ms) or "max", got 999',
    );
    expect(() => stickyCookie({ domain: 'bad;domain' })).toThrow(
      'domain: expected a valid cookie Domain, got "bad;domain"',
    );
  });
});

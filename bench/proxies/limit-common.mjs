// Not a contender: what limit-none.mjs, limit-memory.mjs and limit-redis.mjs share (bench/limit.mjs).
// The proxy is switchyard-bare's (maxFails 0 on every server, nextUpstream false, sendTimeoutMs 0),
// with or without one limit_req and one limit_conn set so high that nothing is ever refused or held.
import { createServer } from 'node:http';
import { createProxy } from '@switchyard/core';
import { connZone, createLimits, rateZone } from '@switchyard/limit';
import { closeServer, listenLocal } from '../lib/listen.mjs';

/** limit_req_zone rate, r/s: the most rateZone() takes; it drains 1000 requests per ms. */
export const LIMIT_RATE = 1_000_000;
/** limit_req burst (with nodelay): far above what 50 connections can send within one ms. */
export const LIMIT_BURST = 1000;
/** limit_conn max: above any autocannon connection count the bench allows. */
export const LIMIT_CONN_MAX = 1000;

/**
 * `limit_req zone=perip burst=1000 nodelay; limit_conn addr 1000;` with both zones keyed by the
 * client address; memory stores unless others are given.
 */
export function benchLimits({ rateStore, connStore } = {}) {
  return createLimits({
    req: [
      {
        zone: rateZone({ name: 'perip', rate: LIMIT_RATE, ...(rateStore ? { store: rateStore } : {}) }),
        burst: LIMIT_BURST,
        nodelay: true,
      },
    ],
    conn: [
      { zone: connZone({ name: 'addr', ...(connStore ? { store: connStore } : {}) }), max: LIMIT_CONN_MAX },
    ],
  });
}

/**
 * The bare proxy in front of the `http://` targets, with `limits` when given (null: none).
 * `stats()` answers the limiter's counters, so the parent can check nothing was refused or held.
 */
export function startLimitProxy(targets, limits, onClose) {
  const servers = targets.filter((t) => t.startsWith('http://')).map((url) => ({ url, maxFails: 0 }));
  const proxy = createProxy({
    upstream: { name: 'bench', servers },
    nextUpstream: false,
    sendTimeoutMs: 0,
    ...(limits ? { limits } : {}),
  });
  const server = createServer(proxy.handler);
  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      await proxy.close();
      await onClose?.();
    },
    stats: () => ({
      forwarded: proxy.upstream.peers.reduce((n, p) => n + p.stats().requests, 0),
      limitReqs: limits ? limits.limitReqs() : null,
      limitConns: limits ? limits.limitConns() : null,
      storeErrors: limits?.storeErrors ? limits.storeErrors() : null,
    }),
  };
}

import { type Backend, conformance, deadPort, startBackend } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy, type UpstreamError } from '../src/index.js';
import { front, send } from './helpers.js';

interface RrCase {
  name: string;
  servers: string[];
  requests: number;
  sequence: number[];
  upstreamAddr: string[];
  statuses: number[];
}

describe('round robin through a live proxy matches nginx (rr.json)', () => {
  const file = conformance<{ cases: RrCase[] }>('rr.json');
  const backends = new Map<number, Backend>();
  const dead = new Map<number, number>();

  beforeAll(async () => {
    for (const port of [9211, 9212, 9213]) backends.set(port, await startBackend());
    for (const port of [9298, 9299]) dead.set(port, await deadPort());
  });
  afterAll(async () => {
    for (const b of backends.values()) await b.close();
  });

  const real = (nginxPort: number) => backends.get(nginxPort)?.port ?? (dead.get(nginxPort) as number);
  const nginxPortOf = (port: number) =>
    [...backends.entries(), ...[...dead.entries()].map(([k, v]) => [k, { port: v }] as const)].find(
      ([, b]) => b.port === port,
    )?.[0];

  it.each(file.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const servers = c.servers.map((line) => {
      const [, , port, params = ''] = /server ([\d.]+):(\d+)\s*([^;]*);/.exec(line) ?? [];
      return {
        url: `http://127.0.0.1:${real(Number(port))}`,
        weight: Number(/weight=(\d+)/.exec(params)?.[1] ?? 1),
        backup: /\bbackup\b/.test(params),
        down: /\bdown\b/.test(params),
      };
    });
    let failedOn: string[] = [];
    const proxy = createProxy({
      upstream: { name: c.name, servers },
      onError: (err) => {
        if (err.code === 'SWY_ERR_UPSTREAM') failedOn.push((err as UpstreamError).peer);
      },
    });
    const f = await front(proxy);
    try {
      const sequence: number[] = [];
      const addrs: string[] = [];
      const statuses: number[] = [];
      for (let i = 0; i < c.requests; i++) {
        failedOn = [];
        const r = await send(f.url, { path: `/${c.name}/${i}` });
        const answered = nginxPortOf(Number(r.headers['x-backend']));
        sequence.push(answered as number);
        statuses.push(r.status);
        const tried = [...failedOn.map((id) => nginxPortOf(Number(id.split(':')[1]))), answered];
        addrs.push(tried.map((p) => `127.0.0.1:${p}`).join(', '));
      }
      expect(sequence).toEqual(c.sequence);
      expect(addrs).toEqual(c.upstreamAddr);
      expect(statuses).toEqual(c.statuses);
    } finally {
      await proxy.close();
      await f.close();
    }
  });
});

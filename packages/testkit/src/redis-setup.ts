import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';
import { deadPort } from './index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:PORT` of the redis-server the tests use, or '' when none could start. */
    redisUrl: string;
    /** Why no redis-server is available, when `redisUrl` is ''. */
    redisProblem: string;
  }
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Vitest global setup: uses REDIS_URL when CI started a redis-server, and otherwise starts
 * one on a free loopback port for the run and stops it afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.REDIS_URL;
  if (given !== undefined && given !== '') {
    project.provide('redisUrl', given);
    project.provide('redisProblem', '');
    return async () => {};
  }
  const port = await deadPort();
  let child: ChildProcess | undefined;
  let problem = '';
  try {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    child.on('error', (err) => {
      problem = `redis-server could not start (${err.message}); install it (apt-get install redis-server) or set REDIS_URL`;
    });
    const start = Date.now();
    while (!(await reachable(port))) {
      if (problem !== '' || Date.now() - start > 5_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (problem === '' && !(await reachable(port))) problem = 'redis-server did not listen within 5 s';
  } catch (err) {
    problem = `redis-server could not start (${(err as Error).message})`;
  }
  project.provide('redisUrl', problem === '' ? `redis://127.0.0.1:${port}` : '');
  project.provide('redisProblem', problem);
  return async () => {
    child?.kill('SIGTERM');
  };
}

import { conformance } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import { compileNginx, type RewriteEngine, type RewriteResult } from '../src/index.js';

interface Case {
  suite: string;
  listen: string;
  config: string;
  request: { method: string; uri: string; headers: Record<string, string | string[]> };
  expect: {
    status: number;
    location: string | null;
    upstreamUri: string | null;
    upstreamHost?: string | null;
    body: string | null;
    builtinPage: boolean;
  };
}

const file = conformance<{ cases: Case[] }>('rewrite.json');

const engines = new Map<string, RewriteEngine>();
function engineFor(config: string, regexEngine: 'js' | 're2'): RewriteEngine {
  const key = `${regexEngine} ${config}`;
  let e = engines.get(key);
  if (e === undefined) {
    e = compileNginx(config, { regexEngine });
    engines.set(key, e);
  }
  return e;
}

/** What the recorder would have seen from nginx had it decided `result`. */
function observed(result: RewriteResult, method: string): Case['expect'] {
  const none = { location: null, upstreamUri: null, upstreamHost: null, body: null };
  switch (result.action) {
    case 'pass':
      if (result.target === undefined) {
        // No proxy_pass: nginx's static handler, over the recorder's empty root.
        return { ...none, status: 404, builtinPage: true };
      }
      return {
        ...none,
        status: 200,
        upstreamUri: result.uri,
        upstreamHost: result.target.replace(/^https?:\/\//, ''),
        builtinPage: false,
      };
    case 'redirect':
      return { ...none, status: result.status, location: result.location, builtinPage: true };
    default:
      if (result.status === 444) return { ...none, status: 0, builtinPage: false };
      return {
        ...none,
        status: result.status,
        body: result.body ?? null,
        builtinPage: result.body === undefined && method !== 'HEAD',
      };
  }
}

function check(c: Case, regexEngine: 'js' | 're2'): void {
  const result = engineFor(c.config, regexEngine).evaluate({
    method: c.request.method,
    uri: c.request.uri,
    headers: c.request.headers,
    scheme: 'http',
    port: Number(c.listen.split(':')[1]),
    remoteAddr: '127.0.0.1',
    serverAddr: '127.0.0.1',
  });
  const want = { ...c.expect, upstreamHost: c.expect.upstreamHost ?? null };
  if (want.builtinPage) want.body = null;
  expect(observed(result, c.request.method)).toEqual(want);
}

const cases = file.cases.map((c, i) => [i, c.suite, c.request.method, c.request.uri, c] as const);

describe('rewrite.json: the real nginx 1.22.1', () => {
  it('has the recorded cases', () => {
    expect(file.cases.length).toBe(219);
  });

  it.each(cases)('#%i %s: %s %s', (_i, _suite, _method, _uri, c) => check(c, 'js'));
});

describe('rewrite.json with regexEngine: re2', () => {
  it.each(cases)('#%i %s: %s %s', (_i, _suite, _method, _uri, c) => check(c, 're2'));
});

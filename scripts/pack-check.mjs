#!/usr/bin/env node
// Packs each published package as `pnpm publish` would (prepack builds it; workspace:
// ranges become versions) and checks what a user would install: publint --strict and
// @arethetypeswrong/cli on each tarball, then a project outside the repository that
// npm-installs the four tarballs and imports them (ESM), require()s them (CommonJS) and
// type-checks them with tsc under nodenext, bundler and node10 resolution.
// One line per check; exits 1 when any fails. `--keep` keeps the temporary folder.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
/** In dependency order: core's prepack build needs the types of a built balancers. */
const PACKAGES = ['balancers', 'core', 'cache', 'rewrite', 'limit'];
/** Every entry point of the published packages. */
const SPECIFIERS = [
  '@switchyard/balancers',
  '@switchyard/balancers/tools',
  '@switchyard/core',
  '@switchyard/core/fastify',
  '@switchyard/core/metrics',
  '@switchyard/cache',
  '@switchyard/rewrite',
  '@switchyard/limit',
];
const keep = process.argv.includes('--keep');

let failures = 0;

/** Runs one check and prints its line; the output of a failed command follows it. */
async function check(name, fn) {
  try {
    const note = await fn();
    console.log(`ok    ${name}${typeof note === 'string' ? ` (${note})` : ''}`);
    return true;
  } catch (err) {
    failures++;
    console.log(`FAIL  ${name}`);
    const out = [err.stdout, err.stderr].filter(Boolean).join('\n').trim();
    console.log(indent(out || String(err.message ?? err)));
    return false;
  }
}

const indent = (text) =>
  text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');

function sh(cmd, args, cwd) {
  return run(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0' } });
}

/** The package's files a file reaches through relative imports/requires (its chunks). */
function reachable(dir, entry) {
  const seen = new Set();
  const walk = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(dir, file), 'utf8');
    const types = /\.d\.c?ts$/.test(file);
    for (const m of text.matchAll(/(?:from\s*|import\s*|require\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      // A declaration file names its neighbour by the JavaScript file it describes.
      const target = types ? m[1].replace(/\.(c?)js$/, '.d.$1ts') : m[1];
      walk(join(dirname(file), target));
    }
  };
  walk(entry);
  return [...seen];
}

const work = mkdtempSync(join(tmpdir(), 'switchyard-pack-'));
try {
  // ---- pack, publint, attw ------------------------------------------------------------
  const tarballs = {};
  for (const name of PACKAGES) {
    const dest = join(work, 'tarballs', name);
    mkdirSync(dest, { recursive: true });
    const ok = await check(`pack @switchyard/${name}`, async () => {
      await sh('pnpm', ['pack', '--pack-destination', dest], join(root, 'packages', name));
      const [file] = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
      if (file === undefined) throw new Error('pnpm pack wrote no tarball');
      tarballs[name] = join(dest, file);
      const { stdout } = await sh('tar', ['-xzOf', tarballs[name], 'package/package.json']);
      if (stdout.includes('workspace:')) throw new Error(`a workspace: range is left in package.json`);
      const { stdout: list } = await sh('tar', ['-tzf', tarballs[name]]);
      for (const f of [
        'package/LICENSE',
        'package/README.md',
        'package/dist/index.js',
        'package/dist/index.cjs',
      ]) {
        if (!list.split('\n').includes(f)) throw new Error(`${f} is missing from the tarball`);
      }
      return file;
    });
    if (!ok) continue;
    await check(`publint --strict @switchyard/${name}`, async () => {
      const { stdout } = await sh(bin('publint'), ['run', '--strict', tarballs[name]]);
      // publint exits 0 on suggestions; let none through either.
      if (!/All good!/.test(stdout)) throw Object.assign(new Error('publint has suggestions'), { stdout });
    });
    // Every rule, every entry point, under node10, node16 (CJS and ESM) and bundler.
    await check(`attw @switchyard/${name}`, () => sh(bin('attw'), [tarballs[name], '--format', 'ascii']));
  }
  if (Object.keys(tarballs).length !== PACKAGES.length) throw new Error('not every package packed');

  // ---- the consumer project -----------------------------------------------------------
  const app = join(work, 'consumer');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'consumer', private: true }, null, 2)}\n`,
  );
  const installed = await check('npm install the tarballs + prom-client, fastify, typescript', () =>
    sh(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        ...PACKAGES.map((n) => tarballs[n]),
        'prom-client@^15',
        'fastify@^5',
        'typescript@~5.9',
        '@types/node@^20',
      ],
      app,
    ),
  );
  if (!installed) throw new Error('the consumer project did not install');

  // The main entry point must not load prom-client, in code or in types.
  await check('@switchyard/core main entry has no prom-client', async () => {
    const dir = join(app, 'node_modules', '@switchyard', 'core');
    for (const entry of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']) {
      for (const file of reachable(dir, entry)) {
        if (/['"]prom-client['"]/.test(readFileSync(join(dir, file), 'utf8'))) {
          throw new Error(`${file} (reached from ${entry}) mentions prom-client`);
        }
      }
    }
  });

  // Dev tooling is on @switchyard/balancers/tools only, not on the main entry.
  await check('@switchyard/balancers main entry has no dev tooling', async () => {
    const dir = join(app, 'node_modules', '@switchyard', 'balancers');
    for (const entry of ['dist/index.d.ts', 'dist/index.d.cts']) {
      const text = readFileSync(join(dir, entry), 'utf8');
      for (const name of ['simulate', 'movedKeys', 'mulberry32']) {
        if (new RegExp(`\\b${name}\\b`).test(text)) throw new Error(`${entry} exports ${name}`);
      }
    }
  });

  writeFileSync(join(app, 'esm.mjs'), runtimeFile('esm'));
  writeFileSync(join(app, 'cjs.cjs'), runtimeFile('cjs'));
  await check('ESM: import every package and subpath', () => sh(process.execPath, ['esm.mjs'], app));
  await check('CommonJS: require() every package and subpath', () => sh(process.execPath, ['cjs.cjs'], app));

  for (const f of ['types.mts', 'types.cts', 'types.ts']) writeFileSync(join(app, f), typesFile());
  writeFileSync(join(app, 'node10.ts'), node10File());
  const tsc = (name, compilerOptions, files) =>
    check(`tsc --noEmit, ${name}`, () => {
      const config = `tsconfig.${name.replace(/\W+/g, '-')}.json`;
      const base = {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        esModuleInterop: true,
        types: ['node'],
        target: 'es2022',
      };
      writeFileSync(
        join(app, config),
        JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files }, null, 2),
      );
      return sh(join(app, 'node_modules', '.bin', 'tsc'), ['-p', config], app);
    });
  await tsc('module nodenext (ESM and CJS files)', { module: 'nodenext', moduleResolution: 'nodenext' }, [
    'types.mts',
    'types.cts',
  ]);
  await tsc('module esnext, moduleResolution bundler', { module: 'esnext', moduleResolution: 'bundler' }, [
    'types.ts',
  ]);
  await tsc('moduleResolution node10 (typesVersions)', { module: 'commonjs', moduleResolution: 'node10' }, [
    'node10.ts',
  ]);
} catch (err) {
  failures++;
  console.log(`FAIL  ${err.message}`);
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

console.log(failures === 0 ? 'pack-check: all passed' : `pack-check: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);

// ---- the consumer's files ---------------------------------------------------------------

/** One program, written as ESM imports or as CommonJS requires: real calls into each entry. */
function runtimeFile(kind) {
  const load =
    kind === 'esm'
      ? `import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { roundRobin } from '@switchyard/balancers';
import { mulberry32, simulate } from '@switchyard/balancers/tools';
import { createAdminApi, createUpstream, InvalidOptionError } from '@switchyard/core';
import { switchyard } from '@switchyard/core/fastify';
import { createMetrics } from '@switchyard/core/metrics';
import { createCache } from '@switchyard/cache';
import { compileNginx } from '@switchyard/rewrite';
import { createLimits, rateZone } from '@switchyard/limit';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
`
      : `const assert = require('node:assert/strict');
const { once } = require('node:events');
const { createServer } = require('node:http');
const { roundRobin } = require('@switchyard/balancers');
const { mulberry32, simulate } = require('@switchyard/balancers/tools');
const { createAdminApi, createUpstream, InvalidOptionError } = require('@switchyard/core');
// The main entry point alone loads no prom-client.
assert.equal(Object.keys(require.cache).filter((k) => k.includes('prom-client')).length, 0);
const { switchyard } = require('@switchyard/core/fastify');
const { createMetrics } = require('@switchyard/core/metrics');
const { createCache } = require('@switchyard/cache');
const { compileNginx } = require('@switchyard/rewrite');
const { createLimits, rateZone } = require('@switchyard/limit');
const Fastify = require('fastify');
const { Registry } = require('prom-client');
`;
  // Each specifier must load this build's own file: on Node >= 20.19 require() would also
  // load an ESM file, and a require condition pointing at one would go unnoticed.
  const resolve = kind === 'esm' ? 'import.meta.resolve' : 'require.resolve';
  const ext = kind === 'esm' ? '.js' : '.cjs';
  return `${load}
for (const spec of ${JSON.stringify(SPECIFIERS)}) {
  const file = ${resolve}(spec);
  assert.ok(file.endsWith('${ext}'), \`\${spec} resolves to \${file}\`);
}

async function main() {
  // balancers: nginx's smooth weighted round robin, weights 2 and 1.
  const peers = [
    { id: 'a:80', weight: 2, active: 0, responseTimeMs: 0, available: true },
    { id: 'b:80', weight: 1, active: 0, responseTimeMs: 0, available: true },
  ];
  const rr = roundRobin();
  assert.deepEqual([1, 2, 3].map(() => rr.pick(peers, {})?.id), ['a:80', 'b:80', 'a:80']);

  // balancers/tools: dev tooling on its own subpath, off the main entry.
  const sim = simulate({ balancer: roundRobin(), peers: [{ id: 'a:80', weight: 2 }, { id: 'b:80' }], requests: { count: 3, intervalMs: 1 }, latencyMs: 1 });
  assert.deepEqual(sim.counts, { 'a:80': 2, 'b:80': 1 });
  assert.equal(mulberry32(1)(), mulberry32(1)());

  // core: an upstream picks through @switchyard/balancers; errors keep their class.
  const upstream = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] });
  const peer = upstream.select({});
  assert.equal(peer?.id, '127.0.0.1:9001');
  upstream.begin(peer);
  upstream.release(peer, { failure: 'none', status: 200, headerMs: 1, responseMs: 2, sent: 10, received: 20 });
  assert.deepEqual([peer.active, peer.requests, peer.stats().responses['2xx']], [0, 1, 1]);
  assert.throws(() => createUpstream({ name: 'x', servers: [] }), InvalidOptionError);

  // core/metrics, served by the admin API, in a registry of the application's prom-client.
  const registry = new Registry();
  const metrics = createMetrics({ upstreams: [upstream], registry });
  assert.match(await metrics.metrics(), /nginxplus_upstream_server_state\\{upstream="app",server="127.0.0.1:9001"\\} 1/);
  assert.equal(createAdminApi({ upstreams: [upstream], metrics }).metrics, metrics);
  assert.equal(createAdminApi({ upstreams: [upstream] }).metrics, undefined);

  // core/fastify: the plugin registers.
  const app = Fastify();
  await app.register(switchyard, { prefix: '/api', upstream: { name: 'api', servers: ['http://127.0.0.1:9001'] } });
  await app.ready();
  await app.close();

  // cache: a miss, then a hit, over a real socket.
  const cache = createCache({ valid: { 200: '10s' } });
  let renders = 0;
  const server = createServer(cache.handler((_req, res) => res.end(\`render \${++renders}\`))).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = \`http://127.0.0.1:\${server.address().port}/page\`;
  const first = await fetch(url);
  const second = await fetch(url);
  assert.deepEqual(
    [first.headers.get('x-cache-status'), await first.text(), second.headers.get('x-cache-status'), await second.text()],
    ['MISS', 'render 1', 'HIT', 'render 1'],
  );
  server.close();

  // rewrite: nginx rules, on the JavaScript engine and on RE2 (loaded with createRequire).
  for (const regexEngine of ['js', 're2']) {
    const engine = compileNginx('rewrite ^/old/(.*)$ /new/$1 last; location / { proxy_pass http://127.0.0.1:9211; }', {
      regexEngine,
    });
    assert.deepEqual(engine.evaluate({ uri: '/old/x' }), {
      action: 'pass',
      uri: '/new/x',
      location: '/',
      target: 'http://127.0.0.1:9211',
    });
  }

  // limit: limit_req zone=one rate=1r/s, no burst: the second request at once is refused.
  const limits = createLimits({ req: [{ zone: rateZone({ name: 'one', rate: '1r/s' }) }], reqStatus: 429 });
  const client = { headers: {}, socket: { remoteAddress: '127.0.0.1' } };
  const decisions = [limits.check(client), limits.check(client)];
  assert.deepEqual(
    decisions.map((d) => [d.action, d.status, d.limitReq]),
    [['pass', 0, 'PASSED'], ['reject', 429, 'REJECTED']],
  );
  for (const d of decisions) d.release();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;
}

function typesFile() {
  return `import { type PeerView, roundRobin } from '@switchyard/balancers';
import { movedKeys, type SimulateResult, simulate } from '@switchyard/balancers/tools';
import { type CacheOptions, createCache } from '@switchyard/cache';
import { type AdminMetrics, createAdminApi, createUpstream, type Upstream } from '@switchyard/core';
import { switchyard } from '@switchyard/core/fastify';
import { createMetrics, type Metrics, type MetricsOptions } from '@switchyard/core/metrics';
import { type LimitDecision, type Limiter, createLimits, rateZone } from '@switchyard/limit';
import { compileNginx, type RewriteEngine } from '@switchyard/rewrite';
import Fastify from 'fastify';
import { Registry } from 'prom-client';

const peers: PeerView[] = [{ id: 'a:80', weight: 1, active: 0, responseTimeMs: 0, available: true }];
export const picked: PeerView | undefined = roundRobin().pick(peers, {});
export const simulated: SimulateResult = simulate({ balancer: roundRobin(), peers: [{ id: 'a:80' }], requests: { count: 1, intervalMs: 1 }, latencyMs: 1 });
export const moved = movedKeys({ peers, balancer: roundRobin }, { peers, balancer: roundRobin }, ['/']);
const upstream: Upstream = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001'] });
const options: MetricsOptions<Registry> = { upstreams: [upstream], registry: new Registry() };
const metrics: Metrics<Registry> = createMetrics(options);
export const served: AdminMetrics = metrics;
export const text: Promise<string> = metrics.registry.metrics();
createAdminApi({ upstreams: [upstream], metrics });
const cacheOptions: CacheOptions = { valid: { 200: '1s' } };
export const cache = createCache(cacheOptions);
const engine: RewriteEngine = compileNginx('return 204;');
const decision = engine.evaluate({ uri: '/' });
export const status: number | undefined = decision.action === 'return' ? decision.status : undefined;
Fastify().register(switchyard, { upstream: { name: 'api', servers: ['http://127.0.0.1:9001'] } });
export const limits: Limiter = createLimits({ req: [{ zone: rateZone({ name: 'one', rate: '1r/s' }) }] });
export const limited: LimitDecision | Promise<LimitDecision> = limits.check({ headers: {}, socket: {} });
`;
}

function node10File() {
  return `import { createUpstream } from '@switchyard/core';
import { switchyard, type SwitchyardFastifyOptions } from '@switchyard/core/fastify';
import { createMetrics, type Metrics } from '@switchyard/core/metrics';
import { roundRobin } from '@switchyard/balancers';
import { mulberry32 } from '@switchyard/balancers/tools';
import { createCache } from '@switchyard/cache';
import { compileNginx } from '@switchyard/rewrite';
import { connZone, createLimits } from '@switchyard/limit';

const upstream = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001'], balancer: roundRobin() });
export const metrics: Metrics = createMetrics({ upstreams: [upstream] });
export const plugin: typeof switchyard = switchyard;
export const options: SwitchyardFastifyOptions = { upstream: { name: 'api', servers: ['http://127.0.0.1:9001'] } };
export const cache = createCache({ valid: { 200: '1s' } });
export const engine = compileNginx('return 204;');
export const limits = createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] });
export const draw: number = mulberry32(1)();
`;
}

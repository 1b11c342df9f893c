#!/usr/bin/env node
// Makes `npm test` / `npm run demo` work on a fresh clone: installs the workspace with the
// pinned pnpm when node_modules is missing or older than the lockfile; with --build builds
// the packages when a dist/ is missing or stale; with --test provides what the tests need
// besides Node (redis-server and Chromium). Cheap when everything is in place.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, '');

function pnpm(args) {
  const onPath = (() => {
    try {
      return execFileSync('pnpm', ['--version'], { encoding: 'utf8' }).trim() === pnpmVersion;
    } catch {
      return false;
    }
  })();
  const [cmd, argv] = onPath ? ['pnpm', args] : ['npx', ['--yes', `pnpm@${pnpmVersion}`, ...args]];
  execFileSync(cmd, argv, { cwd: root, stdio: 'inherit' });
}

const marker = join(root, 'node_modules', '.modules.yaml');
const lock = join(root, 'pnpm-lock.yaml');
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.error('switchyard: installing the workspace with pnpm %s…', pnpmVersion);
  pnpm(['install', '--frozen-lockfile']);
}

/** The newest modification time of the files under a folder. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

if (process.argv.includes('--build')) {
  const packages = ['balancers', 'core', 'cache', 'rewrite'];
  // Build when a package has no build, or its sources changed since.
  const stale = packages.some((p) => {
    const built = join(root, 'packages', p, 'dist', 'index.js');
    return !existsSync(built) || statSync(built).mtimeMs < newest(join(root, 'packages', p, 'src'));
  });
  if (stale) {
    console.error('switchyard: building the packages…');
    pnpm(['run', 'build']);
  }
}

/** Whether an executable of this name is on PATH. */
function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, name)));
}

if (process.argv.includes('--test')) {
  // The Redis stores are tested against a real redis-server, and the dashboard in a real
  // Chromium. Either comes from the environment (REDIS_URL, CHROMIUM_PATH) or from the
  // machine; as root on Debian/Ubuntu the missing ones are installed with apt-get.
  const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const missing = () => [
    ...(process.env.REDIS_URL || onPath('redis-server') ? [] : ['redis-server']),
    ...(existsSync(chromium) ? [] : ['chromium']),
  ];
  let needed = missing();
  const canApt = process.getuid?.() === 0 && existsSync('/etc/debian_version') && onPath('apt-get');
  if (needed.length > 0 && canApt) {
    console.error('switchyard: installing %s for the tests (apt-get)…', needed.join(' and '));
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...needed], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    });
    needed = missing();
  }
  if (needed.length > 0) {
    console.error(
      `switchyard: the tests need ${needed.join(' and ')}: install ${needed.join(' ')} (Debian/Ubuntu: apt-get install -y ${needed.join(' ')}), or set ${[
        ...(needed.includes('redis-server') ? ['REDIS_URL=redis://127.0.0.1:6379 (Redis ≥ 7)'] : []),
        ...(needed.includes('chromium') ? ['CHROMIUM_PATH=/path/to/chromium'] : []),
      ].join(' and ')} to use one you have.`,
    );
    process.exit(1);
  }
}

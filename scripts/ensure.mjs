#!/usr/bin/env node
// Makes `npm test` / `npm run demo` work on a fresh clone: installs the workspace with the
// pinned pnpm when node_modules is missing or older than the lockfile, and with --build
// builds the packages when a dist/ is missing. Cheap when everything is in place.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Outside `peer/` and `upstream/`, the modules that may change a peer's state. */
const outside = sources(SRC).filter(
  (f) => !/^(peer|upstream)\//.test(relative(SRC, f).replaceAll('\\', '/')),
);

describe('one owner: Upstream is the only writer of peer state', () => {
  it('has no module outside peer/ and upstream/ assigning to a peer field', () => {
    const writes = outside.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((line) => /peer\.[a-zA-Z]+ *(=[^=]|\+\+|--|\+=|-=)/.test(line))
        .map((line) => `${relative(SRC, f)}: ${line.trim()}`),
    );
    expect(writes).toEqual([]);
  });

  it('has no module outside peer/ and upstream/ reaching the writable peer state', () => {
    const reach = outside.filter((f) => /\bpeerFields\b|peer\/passive\.js/.test(readFileSync(f, 'utf8')));
    expect(reach.map((f) => relative(SRC, f))).toEqual([]);
  });
});

describe('one owner: stats/ is read by admin/ and metrics/, which never import each other', () => {
  /** The relative module specifiers a source file imports or re-exports from. */
  const importsOf = (file: string): string[] =>
    [...readFileSync(file, 'utf8').matchAll(/\b(?:from|import)\s*\(?\s*'([^']+)'/g)].map(
      (m) => m[1] as string,
    );
  const under = (dir: string) => sources(join(SRC, dir));
  /** The files under `dir` importing a module under `target/` (a top-level folder of src/). */
  const reaching = (dir: string, target: string) =>
    under(dir)
      .filter((f) =>
        importsOf(f).some((spec) => {
          const to = relative(SRC, join(f, '..', spec)).replaceAll('\\', '/');
          return to === target || to.startsWith(`${target}/`);
        }),
      )
      .map((f) => relative(SRC, f).replaceAll('\\', '/'));

  it('has admin/ and metrics/ both reading stats/', () => {
    expect(reaching('admin', 'stats')).not.toEqual([]);
    expect(reaching('metrics', 'stats')).not.toEqual([]);
  });

  it('has no file under admin/ importing from metrics/', () => {
    expect(reaching('admin', 'metrics')).toEqual([]);
  });

  it('has no file under metrics/ importing from admin/', () => {
    expect(reaching('metrics', 'admin')).toEqual([]);
  });

  it('has no file under stats/ importing from admin/ or metrics/', () => {
    expect([...reaching('stats', 'admin'), ...reaching('stats', 'metrics')]).toEqual([]);
  });
});

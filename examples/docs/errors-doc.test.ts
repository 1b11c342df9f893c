import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

/** Every package's errors.ts; core's must be among them. */
const sources = readdirSync(`${root}packages`)
  .map((pkg) => `packages/${pkg}/src/errors.ts`)
  .filter((path) => existsSync(`${root}${path}`));

/** Code → class, from `class X extends Y { … super('SWY_ERR_…'` within one class body. */
function classesByCode(): Map<string, string> {
  const found = new Map<string, string>();
  for (const path of sources) {
    const text = read(path);
    const classes =
      /class (\w+) extends \w+ \{(?:(?!\bclass \w+ extends )[\s\S])*?super\(\s*'(SWY_ERR_\w+)'/g;
    for (const m of text.matchAll(classes)) {
      found.set(m[2] as string, m[1] as string);
    }
  }
  return found;
}

function codesIn(text: string): Set<string> {
  return new Set(text.match(/SWY_ERR_\w+/g));
}

describe('docs/errors.md', () => {
  const doc = read('docs/errors.md');
  const documented = codesIn(doc);
  const defined = new Set(sources.flatMap((path) => [...codesIn(read(path))]));

  it('reads the codes of core', () => {
    expect(sources).toContain('packages/core/src/errors.ts');
    expect(defined.size).toBeGreaterThan(0);
  });

  it('lists every code the packages define', () => {
    expect([...defined].filter((code) => !documented.has(code))).toEqual([]);
  });

  it('lists no code the packages do not define', () => {
    expect([...documented].filter((code) => !defined.has(code))).toEqual([]);
  });

  it('names, for each code, the class that carries it', () => {
    const rows = new Map<string, string>();
    for (const line of doc.split('\n')) {
      const m = /^\|\s*`(SWY_ERR_\w+)`\s*\|\s*`(\w+)`\s*\|/.exec(line);
      if (m) rows.set(m[1] as string, m[2] as string);
    }
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(classesByCode()));
  });
});

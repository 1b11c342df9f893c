import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '@switchyard/internals';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

/** Where error classes are defined: the shared base, and every package's errors.ts. */
const sources = [
  'packages/internals/src/errors/index.ts',
  ...readdirSync(`${root}packages`)
    .map((pkg) => `packages/${pkg}/src/errors.ts`)
    .filter((path) => existsSync(`${root}${path}`)),
];

/** Code → class, from `class X extends Y { … super('SWY_ERR_…'` within one class body. */
function classesByCode(): Record<string, string> {
  const found: Record<string, string> = {};
  for (const path of sources) {
    const classes =
      /class (\w+) extends \w+ \{(?:(?!\bclass \w+ extends )[\s\S])*?super\(\s*'(SWY_ERR_\w+)'/g;
    for (const m of read(path).matchAll(classes)) found[m[2] as string] = m[1] as string;
  }
  return found;
}

/** Code → [class, when], from the rows of the doc's table. */
function documentedRows(doc: string): Record<string, [string, string]> {
  const rows: Record<string, [string, string]> = {};
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`(SWY_ERR_\w+)`\s*\|\s*`(\w+)`\s*\|\s*(.*?)\s*\|$/.exec(line);
    if (m) rows[m[1] as string] = [m[2] as string, m[3] as string];
  }
  return rows;
}

describe('the error code table', () => {
  const table = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, e]) => [code, [e.class, e.when]]));

  it('reads the codes of core', () => {
    expect(sources).toContain('packages/core/src/errors.ts');
    expect(Object.keys(table)).toContain('SWY_ERR_NO_LIVE_UPSTREAM');
  });

  it('is the table docs/errors.md shows, row for row', () => {
    expect(documentedRows(read('docs/errors.md'))).toEqual(table);
  });

  it('gives docs/errors.md a section for every code', () => {
    const doc = read('docs/errors.md');
    expect(Object.keys(table).filter((code) => !doc.includes(`\n## ${code}\n`))).toEqual([]);
  });

  it('names, for each code, the class that carries it, and no class carries another', () => {
    const classes = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, e]) => [code, e.class]));
    expect(classesByCode()).toEqual(classes);
  });

  it('holds every code the packages use', () => {
    const used = new Set(sources.flatMap((path) => read(path).match(/SWY_ERR_\w+/g) ?? []));
    expect([...used].filter((code) => !(code in ERROR_CODES))).toEqual([]);
  });
});

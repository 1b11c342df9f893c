import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ADMIN_ERRORS } from '../../packages/core/src/admin/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(`${root}docs/admin-api.md`, 'utf8');

/** The page's `## Errors` section, up to the next heading of its level. */
function errorsSection(): string {
  const start = doc.indexOf('\n## Errors\n');
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end === -1 ? undefined : end);
}

/**
 * The rows of the section's tables, `code → status`, in two tables: NGINX Plus's codes,
 * then (after "switchyard's own codes") the others. A cell may list several codes.
 */
function documented(): { nginx: Map<string, number>; own: Map<string, number> } {
  const section = errorsSection();
  const split = section.indexOf("switchyard's own codes");
  const rows = (text: string) => {
    const found = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^\|\s*(\d{3})\s*\|([^|]*)\|/.exec(line);
      if (m === null) continue;
      for (const code of (m[2] as string).matchAll(/`(\w+)`/g)) found.set(code[1] as string, Number(m[1]));
    }
    return found;
  };
  return { nginx: rows(section.slice(0, split)), own: rows(section.slice(split)) };
}

/** The table in the code, split the same way. */
function defined(nginx: boolean): Map<string, number> {
  return new Map(
    Object.entries(ADMIN_ERRORS)
      .filter(([, e]) => e.nginx === nginx)
      .map(([code, e]) => [code, e.status]),
  );
}

describe("docs/admin-api.md's error tables", () => {
  const { nginx, own } = documented();

  it('reads both tables', () => {
    expect(errorsSection()).toContain("switchyard's own codes");
    expect(nginx.size).toBeGreaterThan(0);
    expect(own.size).toBeGreaterThan(0);
  });

  it('lists every NGINX Plus code the admin API answers, with its status, and nothing else', () => {
    expect(Object.fromEntries(nginx)).toEqual(Object.fromEntries(defined(true)));
  });

  it("lists every code of switchyard's own, with its status, and nothing else", () => {
    expect(Object.fromEntries(own)).toEqual(Object.fromEntries(defined(false)));
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'tsup';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { rawText } from '../../../tsup.config.js';
import { DASHBOARD_SCRIPT } from './index.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

describe("the dashboard's script", () => {
  it('type-checks against the DOM, as tsconfig.json beside it says', () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      here('tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (config === undefined) throw new Error('tsconfig.json did not parse');
    expect(config.fileNames.map((f) => f.split('/').pop())).toEqual(['script.js']);
    const program = ts.createProgram(config.fileNames, config.options);
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      return `${at ? `${at.line + 1}:${at.character + 1} ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    expect(errors).toEqual([]);
  }, 30_000);

  it('is the text of script.js, as the tests import it', () => {
    expect(DASHBOARD_SCRIPT).toBe(readFileSync(here('script.js'), 'utf8'));
    expect(DASHBOARD_SCRIPT.startsWith('// @ts-check\n')).toBe(true);
  });

  it('is the same text in the build, inlined by the raw-text plugin', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'switchyard-dashboard-build-'));
    try {
      await build({
        entry: { dashboard: here('index.ts') },
        format: ['esm'],
        outDir,
        target: 'node20',
        dts: false,
        config: false,
        silent: true,
        esbuildPlugins: [rawText],
      });
      const built = (await import(pathToFileURL(join(outDir, 'dashboard.js')).href)) as {
        DASHBOARD_SCRIPT: string;
      };
      expect(built.DASHBOARD_SCRIPT).toBe(DASHBOARD_SCRIPT);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 30_000);
});

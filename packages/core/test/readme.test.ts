import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@aauth-kit/core';
import { ERRORS } from '@aauth-kit/core';
import * as internal from '@aauth-kit/core/internal';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Rows of the README's errors table: code -> [status, wire error, meaning]. */
function errorRows(): Map<string, [number, string, string]> {
  const section = readme.split(/^## Errors$/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = new Map<string, [number, string, string]>();
  for (const line of section.split('\n')) {
    const m = /^\| `([a-z0-9_]+)` \| (\d{3}) \| `([a-z_]+)` \| (.+) \|$/.exec(line);
    if (m) {
      expect(rows.has(m[1]!), `README lists ${m[1]} twice`).toBe(false);
      rows.set(m[1]!, [Number(m[2]), m[3]!, m[4]!]);
    }
  }
  return rows;
}

describe('README', () => {
  it('the errors table lists every code of ERRORS with its status and wire error, and nothing else', () => {
    const rows = errorRows();
    for (const [code, [status, error, message]] of Object.entries(ERRORS)) {
      const expected = `| \`${code}\` | ${status} | \`${error}\` | ${message} |`;
      expect(rows.get(code), `README errors table needs the row:\n${expected}`).toEqual([status, error, message]);
    }
    expect([...rows.keys()].filter((code) => !(code in ERRORS))).toEqual([]);
  });

  it('has the sections of a package README, the quick start in the first screen', () => {
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(['Quick start', 'API overview', 'Options', 'Errors', 'Security notes']);
    expect(readme.split('\n').findIndex((l) => l === '## Quick start')).toBeLessThan(15);
  });

  it('names only exports that exist: the main entry point above, @aauth-kit/core/internal in its own table', () => {
    const [main, internalPart] = readme.split(/^## API overview$/m)[1]!.split(/^## /m)[0]!.split(/^### `@aauth-kit\/core\/internal`$/m);
    const namesOf = (text: string | undefined): string[] => {
      const rows = (text ?? '').split('\n').filter((l) => l.startsWith('| ')).join('\n');
      return [...rows.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]!).filter((n) => /^[a-z][A-Za-z]+$|^[A-Z_]+$/.test(n) && n !== 'hwk' && n !== 'jwks');
    };
    const methods = new Set(['sign', 'verify', 'kid', 'thumbprint', 'privateKeyObject', 'toPrivateJwk', 'toPem', 'toPublishedJwk']);
    const exported = new Set(Object.keys(core));
    expect(namesOf(main).filter((n) => !methods.has(n) && !exported.has(n))).toEqual([]);
    const internalNames = namesOf(internalPart);
    expect(internalNames.length).toBeGreaterThan(15);
    const internalExports = new Set(Object.keys(internal));
    expect(internalNames.filter((n) => !internalExports.has(n))).toEqual([]);
    // A name is public or internal, never both.
    expect(Object.keys(internal).filter((n) => exported.has(n))).toEqual([]);
  });

  it('the quick start runs as written and verifies', async () => {
    const code = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    const body = code.replace(/^import .*\n/m, '');
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;
    const run = new AsyncFunction('generateKey', 'importPublicKey', 'signRequest', 'verifyRequest', `${body}\nreturn { key, verified };`);
    const { key, verified } = (await run(core.generateKey, core.importPublicKey, core.signRequest, core.verifyRequest)) as {
      key: core.SigningKey;
      verified: { key: core.PublicKey; components: string[] };
    };
    expect(verified.key.thumbprint).toBe(key.thumbprint);
    expect(verified.components).toContain('content-digest');
  });

});

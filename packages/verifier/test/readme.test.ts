import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@aauth-kit/core';
import { ERRORS } from '@aauth-kit/core';
import * as verifierPkg from '@aauth-kit/verifier';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function errorRows(): Map<string, [number, string]> {
  const section = readme.split(/^## Errors$/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = new Map<string, [number, string]>();
  for (const m of section.matchAll(/^\| `([a-z0-9_]+)` \| (\d{3}) \| `([a-z_]+)` \| .+ \|$/gm)) rows.set(m[1]!, [Number(m[2]), m[3]!]);
  return rows;
}

describe('verifier README', () => {
  it('has the package sections, with the quick start in the first screen', () => {
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(['Quick start', 'API overview', 'Options', 'Errors', 'What this checks', 'What it does not check', 'Security notes']);
    expect(readme.split('\n').indexOf('## Quick start')).toBeLessThan(15);
  });

  it('the errors table agrees with the ERRORS table of core and covers every code verify() throws', () => {
    const rows = errorRows();
    for (const [code, [status, error]] of rows) {
      expect(code in ERRORS, `${code} is not in ERRORS`).toBe(true);
      const row = ERRORS[code as keyof typeof ERRORS];
      expect([status, error], code).toEqual([row[0], row[1]]);
    }
    const thrown = Object.keys(ERRORS).filter((c) => /^(signature_|digest_|key_|token_)/.test(c) && c !== 'token_agent_mismatch' && c !== 'token_lifetime_invalid');
    for (const code of [...thrown, 'egress_denied', 'unsupported_scheme', 'unsupported_algorithm', 'header_too_large', 'invalid_request']) {
      expect(rows.has(code), `README errors table lacks ${code}`).toBe(true);
    }
  });

  it('the API overview names only real exports', () => {
    const overview = readme.split(/^## API overview$/m)[1]!.split(/^## /m)[0]!;
    const names = [...overview.matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(3);
    for (const n of names) expect(n in verifierPkg, n).toBe(true);
  });

  it('the quick start runs as written', async () => {
    const code = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    const body = code.replace(/^import .*\n/gm, '');
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;
    const run = new AsyncFunction('generateKey', 'signRequest', 'createVerifier', `${body}\nreturn { key, who };`);
    const { key, who } = (await run(core.generateKey, core.signRequest, verifierPkg.createVerifier)) as { key: core.SigningKey; who: verifierPkg.VerifiedRequest };
    expect(who.scheme).toBe('hwk');
    expect(who.agent).toBe(`pseudonymous:${key.thumbprint}`);
  });
});

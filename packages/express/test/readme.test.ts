import { readFileSync } from 'node:fs';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { ERRORS, generateKey } from '@aauth-kit/core';
import * as expressPkg from '@aauth-kit/express';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('express README', () => {
  it('has the package sections, with the quick start in the first screen', () => {
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(['Quick start', 'API overview', 'Options', 'Errors', 'Security notes']);
    expect(readme.split('\n').indexOf('## Quick start')).toBeLessThan(15);
  });

  it('the errors table agrees with the ERRORS table of core and lists the middleware own answers', () => {
    const section = readme.split(/^## Errors$/m)[1]!.split(/^## /m)[0]!;
    const rows = [...section.matchAll(/^\| `([a-z0-9_]+)` \| (\d{3}) \| `([a-z_]+)` \| .+ \|$/gm)];
    for (const [, code, status, error] of rows) {
      const row = ERRORS[code as keyof typeof ERRORS];
      expect(row, `${code} is not in ERRORS`).toBeDefined();
      expect([Number(status), error], code).toEqual([row[0], row[1]]);
    }
    const codes = rows.map((r) => r[1]);
    for (const code of ['identity_required', 'auth_token_required', 'insufficient_scope', 'body_too_large', 'body_timeout', 'unsupported_scheme']) expect(codes).toContain(code);
  });

  it('the quick start builds as written', async () => {
    const code = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    const body = code.replace(/^import .*\n/gm, '').replace(/^app\.listen\(.*\n/m, '');
    expect(body).not.toMatch(/listen/);
    const run = new Function('express', 'loadKeyFile', 'createResource', `${body}\nreturn { app, resource };`);
    const { app, resource } = run(express, () => generateKey(), expressPkg.createResource) as { app: express.Express; resource: expressPkg.Resource };
    expect(typeof app).toBe('function');
    expect(resource.metadata).toEqual({
      resource: 'http://localhost:3001',
      jwks_uri: 'http://localhost:3001/jwks.json',
      supported_scopes: ['market-analysis:analyze'],
      scope_descriptions: { 'market-analysis:analyze': 'Analyze the market' },
    });
  });
});

import { readFileSync } from 'node:fs';
import { ERRORS } from '@aauth-kit/core';
import { describe, expect, it } from 'vitest';
import { downstreamStatus } from '../src/lib/downstream-status.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('errors table matches the core error table (codes, and the 5xx status the agent throws them with)', () => {
    const section = readme.split('## Errors')[1]!.split('\n## ')[0]!;
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    expect(rows.length).toBeGreaterThan(10);
    for (const [code, status] of rows) {
      expect(ERRORS, code).toHaveProperty(code);
      expect(downstreamStatus(code as keyof typeof ERRORS), code).toBe(status);
      expect(status, code).toBeGreaterThanOrEqual(500);
    }
  });

  it('the quick start fits in the first screen and names the public entry points', () => {
    const firstScreen = readme.split('\n').slice(0, 40).join('\n');
    for (const name of ['createAgent', 'agent.fetch', 'wellKnown', 'wrapFetch', 'extendGot']) expect(firstScreen).toContain(name);
  });
});

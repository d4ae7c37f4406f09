import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION as agent } from '../packages/agent/src/lib/version.js';
import { VERSION as authServer } from '../packages/auth-server/src/lib/version.js';
import { VERSION as discovery } from '../packages/discovery/src/lib/version.js';
import { VERSION as express } from '../packages/express/src/lib/version.js';

// The packages that trace name their version as a constant (src/lib/version.ts: an application
// bundled into one file has no package.json beside the code to read it from at run time). Each
// constant must be its package.json's version: bump both together.
describe('the version constants of the traced packages', () => {
  it.each([
    ['agent', agent],
    ['auth-server', authServer],
    ['discovery', discovery],
    ['express', express],
  ])('%s: src/lib/version.ts holds the version of its package.json', (pkg, version) => {
    const manifest = JSON.parse(readFileSync(new URL(`../packages/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string };
    expect(version).toBe(manifest.version);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

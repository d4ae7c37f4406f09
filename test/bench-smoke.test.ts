import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run bench` with tiny iteration counts, so the benchmark suite cannot rot. No timing is
// asserted: only that every figure runs and reports.
const runMjs = fileURLToPath(new URL('../bench/run.mjs', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'aauth-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('benchmark suite (quick smoke run)', () => {
  it('runs every figure and writes BENCHMARKS.md and results.json', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--expose-gc', runMjs, '--quick', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('exit', (c) => resolve({ code: c, stderr: err }));
    });
    expect(code, stderr).toBe(0);
    const report = readFileSync(join(out, 'BENCHMARKS.md'), 'utf8');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { meta: { quick: boolean; node: string }; results: Array<{ id: string; sections: unknown[] }> };
    expect(results.meta.quick).toBe(true);
    expect(results.results.map((r) => r.id)).toEqual(['verify-jwks', 'verify-jwt', 'sign', 'peers', 'http', 'exchange', 'memory', 'exchange-redis', 'cold-start']);
    for (const r of results.results) expect(r.sections.length).toBeGreaterThan(0);
    for (const title of ['1. Verify, jwks_uri', '2. Verify, jwt scheme', '3. Sign', '4. Peers', '5. HTTP', '6. Token exchange', '7. Memory', '8. Token exchange with the auth server state in Redis', '9. Cold start']) {
      expect(report).toContain(`## ${title}`);
    }
    expect(report).toContain('Quick mode');
    // Figure 5 holds the guarded route against the ideal made real: a route with one inline raw verify.
    expect(report).toMatch(/\| inline verify: no middleware, one raw \S+ verify in the handler \| [\d,]+ \|/);
    expect(report).toMatch(/The guarded route \(default backend\) against the inline-verify route of the same round: \d\.\d\d/);
    // ... and times the three routes alternated request by request in one app (the kit's cost beyond its verify).
    expect(report).toMatch(/\*\*What the kit costs beyond its one verify \(guarded - inline\): -?[\d.]+ us per request\*\*/);
    expect(report).toMatch(/bare [\d.]+ us, inline verify [\d.]+ us, guarded [\d.]+ us in the app/);
    // --render runs nothing and writes the same report again from results.json.
    const again = spawnSync(process.execPath, [runMjs, '--render', '--out', out], { encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(out, 'BENCHMARKS.md'), 'utf8')).toBe(report);
    expect(again.stderr).not.toMatch(/bench: verify-jwks/);
    // The agent's cache figure is counted, not timed: one exchange for all the calls.
    expect(report).toMatch(/the auth server's token endpoint was called \*\*1\*\* time/);
  }, 120_000);
});

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCliArgs, runCli } from '../src/run-cli.js';
import { freePort } from '../../../test/fixtures/auth-server.js';

// Issue 17: `aauth-auth-server --audit-file` appends every audit event to a rotated JSON-lines
// file (as well as printing it), and every event of the requests served is on disk once close resolves.

const REALM_FILE = fileURLToPath(new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--audit-file', () => {
  it('parses the audit flags, and refuses them without --audit-file or with bad numbers', () => {
    expect(parseCliArgs(['--realm', 'r.json', '--audit-file', 'a.log', '--audit-max-bytes', '4096', '--audit-keep', '3'])).toMatchObject({
      auditFile: 'a.log',
      auditMaxBytes: 4096,
      auditKeep: 3,
    });
    expect(() => parseCliArgs(['--realm', 'r.json', '--audit-keep', '3'])).toThrow('--audit-keep configures the audit file: give it with --audit-file');
    expect(() => parseCliArgs(['--realm', 'r.json', '--audit-file', 'a.log', '--audit-max-bytes', '0'])).toThrow('--audit-max-bytes must be a positive integer (got "0")');
    expect(() => parseCliArgs(['--realm', 'r.json', '--audit-file', ''])).toThrow('--audit-file must name a file');
  });

  it('writes each refusal to the file, rotating it, and prints it too', async () => {
    const port = await freePort();
    const file = join(dir, 'audit.jsonl');
    const out: string[] = [];
    const running = await runCli(
      ['--realm', REALM_FILE, '--port', String(port), '--base-url', `http://127.0.0.1:${port}`, '--audit-file', file, '--audit-max-bytes', '600', '--audit-keep', '2'],
      { out: (l) => out.push(l), err: () => {} },
    );
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${running.issuer}/protocol/aauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(res.status).toBe(401);
      }
    } finally {
      await running.close();
    }
    const printed = out.filter((l) => l.startsWith('{"audit"')).map((l) => JSON.stringify((JSON.parse(l) as { audit: unknown }).audit));
    expect(printed).toHaveLength(5);
    const files = readdirSync(dir).sort();
    expect(files[0]).toBe('audit.jsonl');
    expect(files.length).toBeGreaterThan(1);
    expect(files.length).toBeLessThanOrEqual(3);
    const lines = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
    // The newest lines survive rotation (keep 2); each is a printed event, whole.
    for (const line of lines) expect(printed).toContain(line);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'request.refused', decision: 'deny', realm: 'aauth-test', status: 401, error: 'invalid_request' });
  });
});

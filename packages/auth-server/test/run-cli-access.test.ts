import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/run-cli.js';

// Issue 16 (helper E): `aauth-auth-server --access-server` serves the -11 access server role of
// helper A (realm attribute `aauth.access.enabled`, option `draft11.accessKeyFile`) from the same
// process and realm file as the person server, and stops, saying why, when it cannot.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REALM = JSON.parse(readFileSync(join(ROOT, 'keycloak-realm/aauth-test-realm.json'), 'utf8')) as { attributes?: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-as-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The test realm with extra attributes, as a file. */
function realmFile(name: string, attributes: Record<string, string>): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ ...REALM, attributes: { ...(REALM.attributes ?? {}), ...attributes } }));
  return file;
}

describe('runCli --access-server', () => {
  it('serves aauth-access.json beside the person server, with its key kept in --access-key-file, and says where', async () => {
    const file = realmFile('access-on.json', { 'aauth.access.enabled': 'true', 'aauth.access.trusted.person.servers': '["https://ps.example"]' });
    const keyFile = join(dir, 'as-key.json');
    const out: string[] = [];
    const err: string[] = [];
    const running = await runCli(['--realm', file, '--port', '0', '--person-server', '--access-server', '--allow-loopback', '--access-key-file', keyFile, '--person-key-file', join(dir, 'ps-key.json')], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    try {
      const as = running.accessServer!;
      expect(as).toBe(new URL(running.baseUrl).origin);
      expect(running.personServer).toBe(as);
      expect(out).toContain(`  AAuth -11 access server ${as} (metadata ${as}/.well-known/aauth-access.json)`);
      const metadata = (await (await fetch(`${as}/.well-known/aauth-access.json`)).json()) as Record<string, string>;
      expect(metadata.issuer).toBe(as);
      expect(typeof metadata.auth_token_endpoint).toBe('string');
      const jwks = (await (await fetch(metadata.jwks_uri!)).json()) as { keys: Array<Record<string, string>> };
      expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
      expect(existsSync(keyFile)).toBe(true);
      expect(err.join('\n')).not.toMatch(/(person|access) server key is ephemeral|options\./);
    } finally {
      await running.close();
    }
  });

  it('without --access-key-file warns naming the flag; a realm that does not enable it stops the command', async () => {
    const file = realmFile('access-on-2.json', { 'aauth.access.enabled': 'true' });
    const err: string[] = [];
    const running = await runCli(['--realm', file, '--port', '0', '--access-server', '--allow-loopback'], { out: () => {}, err: (l) => err.push(l) });
    try {
      expect(running.accessServer).toBeDefined();
      expect(err).toContain('warning: no --access-key-file given: the access server key is ephemeral, and its tokens change after a restart (dev only)');
    } finally {
      await running.close();
    }
    await expect(runCli(['--realm', realmFile('access-off.json', {}), '--port', '0', '--access-server', '--allow-loopback'], { out: () => {}, err: () => {} })).rejects.toThrow(
      new TypeError('--access-server: the -11 access server cannot be served: the realm does not set aauth.access.enabled to true'),
    );
    await expect(runCli(['--realm', file, '--port', '0', '--access-server'], { out: () => {}, err: () => {} })).rejects.toThrow(
      /^--access-server: the -11 access server cannot be served: its identifier, the origin of --base-url \(http:\/\/localhost:\d+\), .+ \(--allow-loopback accepts http/,
    );
  });
});

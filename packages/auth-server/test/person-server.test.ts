import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthServer, loadRealm } from '../src/index.js';
import { testRealm } from '../../../test/fixtures/auth-server.js';

// The -11 person server's settings: realm attributes `aauth.person.*`, the server identifier it
// is served under (profile section 2), its key file. The flows are in test/person-server-11.test.ts.

const dir = mkdtempSync(join(tmpdir(), 'aauth-ps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('realm attributes aauth.person.*', () => {
  it('default to enabled, one-hour tokens and 30 s long polls', () => {
    expect(loadRealm(testRealm()).person).toEqual({ enabled: true, tokenLifespan: 3600, maxWait: 30 });
  });

  it('are read and checked, naming the field', () => {
    const realm = loadRealm(testRealm({ 'aauth.person.enabled': 'false', 'aauth.person.token.lifespan': '600', 'aauth.person.max.wait': '5' }));
    expect(realm.person).toEqual({ enabled: false, tokenLifespan: 600, maxWait: 5 });
    expect(() => loadRealm(testRealm({ 'aauth.person.token.lifespan': '7200' }))).toThrow(
      'options.realm.attributes["aauth.person.token.lifespan"] must be at most 3600',
    );
    expect(() => loadRealm(testRealm({ 'aauth.person.enabled': 'yes' }))).toThrow(TypeError);
    expect(() => loadRealm(testRealm({ 'aauth.person.max.wait': '61' }))).toThrow('must be at most 60 seconds');
  });
});

describe('the person server identifier', () => {
  const quiet = { onWarning: () => undefined };

  it('is the https origin of baseUrl, and its metadata and JWKS name it', async () => {
    const server = createAuthServer({ realm: testRealm(), baseUrl: 'https://ps.example', ...quiet });
    expect(server.personServer).toBe('https://ps.example');
    const running = await server.listen(0);
    try {
      const doc = (await (await fetch(`${running.url}/.well-known/aauth-person.json`)).json()) as Record<string, unknown>;
      expect(doc).toMatchObject({
        issuer: 'https://ps.example',
        jwks_uri: 'https://ps.example/aauth/person/jwks.json',
        person_token_endpoint: 'https://ps.example/aauth/person/person-token',
        auth_token_endpoint: 'https://ps.example/aauth/person/auth-token',
        revocation_endpoint: 'https://ps.example/aauth/person/revoke',
      });
      expect(doc).not.toHaveProperty('interaction_endpoint');
      const jwks = (await (await fetch(`${running.url}/aauth/person/jwks.json`)).json()) as { keys: Record<string, string>[] };
      expect(jwks.keys.map((k) => [k.kty, k.crv, k.alg, k.d])).toEqual([['OKP', 'Ed25519', 'Ed25519', undefined]]);
    } finally {
      await running.close();
    }
  });

  it('is not served on a port or over http without the loopback relaxation, and says so when draft11 options were given', () => {
    const warnings: string[] = [];
    expect(createAuthServer({ realm: testRealm(), baseUrl: 'https://ps.example:8443', ...quiet }).personServer).toBeUndefined();
    const server = createAuthServer({ realm: testRealm(), baseUrl: 'http://127.0.0.1:8080', draft11: {}, onWarning: (w) => warnings.push(w) });
    expect(server.personServer).toBeUndefined();
    expect(warnings.some((w) => w.startsWith('the -11 person server is not served: the origin of options.baseUrl'))).toBe(true);
    expect(createAuthServer({ realm: testRealm(), baseUrl: 'http://127.0.0.1:8080', draft11: { allowLoopback: true }, ...quiet }).personServer).toBe('http://127.0.0.1:8080');
  });

  it('is off with aauth.person.enabled false', () => {
    const server = createAuthServer({ realm: testRealm({ 'aauth.person.enabled': 'false' }), baseUrl: 'https://ps.example', ...quiet });
    expect(server.personServer).toBeUndefined();
  });

  it('keeps its key in options.draft11.keyFile (created once, mode 0600, then reused)', async () => {
    const keyFile = join(dir, 'person-key.json');
    const first = createAuthServer({ realm: testRealm(), baseUrl: 'https://ps.example', draft11: { keyFile }, ...quiet });
    const saved = JSON.parse(readFileSync(keyFile, 'utf8')) as Record<string, string>;
    expect(saved).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(typeof saved.d).toBe('string');
    const second = createAuthServer({ realm: testRealm(), baseUrl: 'https://ps.example', draft11: { keyFile }, ...quiet });
    const keyOf = async (s: typeof first) => {
      const running = await s.listen(0);
      try {
        return ((await (await fetch(`${running.url}/aauth/person/jwks.json`)).json()) as { keys: Record<string, string>[] }).keys[0]!.x;
      } finally {
        await running.close();
      }
    };
    expect(await keyOf(second)).toBe(await keyOf(first));
    expect(() => createAuthServer({ realm: testRealm(), baseUrl: 'https://ps.example', draft11: { allowLoopback: 'yes' as never }, ...quiet })).toThrow(
      'options.draft11.allowLoopback must be a boolean',
    );
  });
});

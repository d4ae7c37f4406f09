import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { setSodiumLoaderForTests } from '@aauth-kit/core/internal';
import { createVerifier } from '@aauth-kit/verifier';
import { resolveVerifierOptions } from '../src/lib/options.js';
import { authClaims, closer, sign, startAgent, startIssuer } from './helpers.js';

// The optional libsodium backend (sodium-native) must accept and refuse exactly what node:crypto does.
const RESOURCE = 'http://localhost:4000';
const servers = closer();
let agent: Awaited<ReturnType<typeof startAgent>>;
let issuer: Awaited<ReturnType<typeof startIssuer>>;
beforeAll(async () => {
  agent = servers.track(await startAgent());
  issuer = servers.track(await startIssuer());
});
afterAll(() => servers.closeAll());

const get = (path = '/data') => ({ method: 'GET', url: `${RESOURCE}${path}`, headers: {} as Record<string, string> });
const post = () => ({ method: 'POST', url: `${RESOURCE}/data`, headers: { 'content-type': 'application/json' } as Record<string, string>, body: '{"n":1}' });

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => (e instanceof AAuthError ? e.code : `not an AAuthError: ${String(e)}`),
  );
}

describe.each(['node', 'sodium', 'noble'] as const)('cryptoBackend %s', (backend) => {
  it('verifies hwk, jwks_uri and jwt (proof of possession) requests', async () => {
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [issuer.issuer], cryptoBackend: backend });
    const key = generateKey();
    expect((await v.verify(sign(post(), key))).scheme).toBe('hwk');
    expect((await v.verify(sign(get(), agent.key, { scheme: 'jwks_uri', id: agent.id, kid: 'agent-1' }))).agent).toBe(agent.id);
    const jwt = await issuer.mint(authClaims({ audience: RESOURCE, agent: agent.id, cnf: agent.key }));
    expect((await v.verify(sign(get(), agent.key, { scheme: 'jwt', jwt }))).token?.issuer).toBe(issuer.issuer);
  });

  it('refuses a tampered request and a token bound to another key with the same codes', async () => {
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [issuer.issuer], cryptoBackend: backend });
    const req = sign(get('/a'), generateKey());
    expect(await code(v.verify({ ...req, url: `${RESOURCE}/b` }))).toBe('signature_invalid');
    const jwt = await issuer.mint(authClaims({ audience: RESOURCE, agent: agent.id, cnf: agent.key }));
    expect(await code(v.verify(sign(get(), generateKey(), { scheme: 'jwt', jwt })))).toBe('token_cnf_mismatch');
  });
});

describe('cryptoBackend option', () => {
  afterEach(() => setSodiumLoaderForTests());

  it("defaults to 'sodium' here, where sodium-native is installed", () => {
    expect(resolveVerifierOptions({ identity: RESOURCE }).cryptoBackend).toBe('sodium');
  });

  it("defaults to 'node' when sodium-native cannot be loaded, and the verifier still verifies", async () => {
    setSodiumLoaderForTests(() => {
      throw new Error("Cannot find module 'sodium-native'");
    });
    expect(resolveVerifierOptions({ identity: RESOURCE }).cryptoBackend).toBe('node');
    const v = createVerifier({ identity: RESOURCE });
    expect((await v.verify(sign(post(), generateKey()))).scheme).toBe('hwk');
    expect(() => createVerifier({ identity: RESOURCE, cryptoBackend: 'sodium' })).toThrow(/options\.cryptoBackend: .*sodium-native/);
  });

  it('refuses an unknown backend at creation with a TypeError naming the option', () => {
    expect(() => createVerifier({ identity: RESOURCE, cryptoBackend: 'openssl' as never })).toThrow(/options\.cryptoBackend must be 'node', 'noble' or 'sodium'/);
  });
});

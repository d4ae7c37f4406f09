import { statSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeThumbprint, generateKey } from '@aauth-kit/core';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthServer } from '../src/index.js';
import { signedFetch, startAuthServer, startParty, testRealm } from '../../../test/fixtures/auth-server.js';

const dir = mkdtempSync(join(tmpdir(), 'aauth-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const make = (extra: Record<string, unknown> = {}) => {
  const warnings: string[] = [];
  const server = createAuthServer({ realm: testRealm(), baseUrl: 'http://localhost:8080', onWarning: (w) => warnings.push(w), ...extra });
  return { server, warnings };
};

describe('realm signing key', () => {
  it('creates the key file (mode 0600) and reuses it after a restart', () => {
    const keyFile = join(dir, 'realm-key.json');
    const first = make({ keyFile });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(first.warnings.some((w) => /ephemeral/.test(w))).toBe(false);
    const stored = JSON.parse(readFileSync(keyFile, 'utf8'));
    expect(stored).toMatchObject({ kty: 'RSA', alg: 'RS256', kid: first.server.jwks().keys[0]!['kid' as never] });
    const second = make({ keyFile });
    expect(second.server.jwks()).toEqual(first.server.jwks());
  });

  it('an ephemeral key differs per start and is announced with a warning', () => {
    const a = make();
    const b = make();
    expect(a.server.jwks()).not.toEqual(b.server.jwks());
    expect(a.warnings.some((w) => /ephemeral/.test(w))).toBe(true);
  });

  it.each([
    ['EdDSA', { kty: 'OKP', crv: 'Ed25519' }],
    ['ES256', { kty: 'EC', crv: 'P-256' }],
    ['RS256', { kty: 'RSA' }],
  ] as const)('%s: JWKS entry with kid = thumbprint', (alg, shape) => {
    const { server } = make({ signingAlgorithm: alg });
    const jwk = server.jwks().keys[0] as Record<string, string>;
    expect(jwk).toMatchObject({ ...shape, use: 'sig' });
    expect(jwk.kid).toBe(computeThumbprint(jwk));
    // Section 2: no "alg":"EdDSA" in JWKS entries for the Keycloak profile.
    if (alg === 'EdDSA') expect(jwk.alg).toBeUndefined();
    else expect(jwk.alg).toBe(alg);
  });

  it('refuses a key file of another type than signingAlgorithm, naming both options', () => {
    const keyFile = join(dir, 'ed.json');
    writeFileSync(keyFile, JSON.stringify(generateKey().toPrivateJwk()));
    expect(() => make({ keyFile })).toThrow(`options.keyFile ${keyFile} holds a OKP/Ed25519 key, but options.signingAlgorithm RS256 needs RSA`);
    expect(make({ keyFile, signingAlgorithm: 'EdDSA' }).server.jwks().keys).toHaveLength(1);
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, 'not json');
    expect(() => make({ keyFile: garbage })).toThrow(`options.keyFile ${garbage} cannot be read as a private JWK`);
    // A damaged key file: its error never quotes the file (V8's JSON errors quote the start of the
    // text when it starts with a letter; one starting with a digit or '-' gets a position-only message).
    // Fixed texts: a random key's first character would pick the form by chance.
    const d = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
    for (const [secret, form] of [
      [d, /cannot be read as a private JWK: it does not start as JSON/],
      [`7${d.slice(1)}`, /cannot be read as a private JWK: .*at position \d+/],
      [`-${d.slice(1)}`, /cannot be read as a private JWK: .*at position \d+/],
    ] as const) {
      writeFileSync(garbage, secret);
      let message = '';
      try {
        make({ keyFile: garbage });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(form);
      expect(message).not.toContain(secret.slice(1, 5));
    }
    const publicOnly = join(dir, 'public.json');
    writeFileSync(publicOnly, JSON.stringify(generateKey().toPublishedJwk()));
    expect(() => make({ keyFile: publicOnly, signingAlgorithm: 'EdDSA' })).toThrow('must hold a private JWK');
  });
});

describe('createAuthServer options', () => {
  it.each([
    [{ baseUrl: 'not a url' }, 'options.baseUrl must be an absolute URL'],
    [{ baseUrl: 'http://example.com' }, 'options.baseUrl must use https unless the host is localhost'],
    [{ baseUrl: 'http://localhost:8080/' }, 'options.baseUrl must not end with a slash'],
    [{ signingAlgorithm: 'HS256' }, 'options.signingAlgorithm must be one of RS256, EdDSA, ES256'],
    [{ keyFile: '' }, 'options.keyFile must be a file path'],
    [{ now: 5 }, 'options.now must be a function'],
    [{ pendingLifetime: 0 }, 'options.pendingLifetime must be a positive integer'],
    [{ maxBodyBytes: 1.5 }, 'options.maxBodyBytes must be a positive integer'],
    [{ pendingStore: {} }, 'options.pendingStore must implement put, get, getByCode, decide and take'],
    [{ realm: 42 }, 'options.realm must be a path to a realm export or the parsed realm object'],
    // A misspelt option used to be dropped without a word.
    [{ signingAlg: 'EdDSA' }, 'options.signingAlg is not an option of createAuthServer (did you mean signingAlgorithm?)'],
    [{ baseURL: 'http://localhost:8080' }, 'options.baseURL is not an option of createAuthServer (did you mean baseUrl?)'],
    [{ port: 8080 }, 'options.port is not an option of createAuthServer: the port goes to authServer.listen(port)'],
    [{ issuer: 'http://localhost:8080/realms/x' }, 'options.issuer is not an option of createAuthServer: the issuer is {baseUrl}/realms/{realm name}: set baseUrl'],
    [{ draft11: { allowLoopBack: true } }, 'options.draft11.allowLoopBack is not an option (did you mean allowLoopback?)'],
  ])('refuses %j', (extra, message) => {
    expect(() => make(extra)).toThrow(TypeError);
    expect(() => make(extra)).toThrow(message);
  });

  it('serves under a base URL with a path', async () => {
    const { server } = make({ baseUrl: 'https://auth.example/kc' });
    expect(server.issuer).toBe('https://auth.example/kc/realms/aauth-test');
    const express = (await import('express')).default;
    const app = express().use(server.router());
    const http = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const port = (http.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/kc/realms/aauth-test/.well-known/aauth-issuer.json`);
      expect(await res.json()).toMatchObject({ issuer: server.issuer, token_endpoint: `${server.issuer}/protocol/aauth/token` });
      expect((await fetch(`http://127.0.0.1:${port}/realms/aauth-test/.well-known/aauth-issuer.json`)).status).toBe(404);
    } finally {
      await new Promise((r) => http.close(r));
    }
  });

  it.each(['EdDSA', 'ES256', 'RS256'] as const)('signs %s auth tokens (node:crypto, synchronously) that verify with the served JWKS', async (alg) => {
    const [as, resource] = await Promise.all([startAuthServer({ signingAlgorithm: alg }), startParty('r')]);
    try {
      const agent = generateKey();
      const rt = await resource.resourceToken({ agent: `pseudonymous:${agent.thumbprint}`, agentJkt: agent.thumbprint, scope: 'data:read', audience: as.issuer });
      const res = await signedFetch(as.tokenEndpoint, { key: agent, json: { resource_token: rt } });
      expect(res.status).toBe(200);
      const jwks = await (await fetch(`${as.issuer}/protocol/openid-connect/certs`)).json();
      const { protectedHeader, payload } = await jwtVerify(String(res.body.auth_token), createLocalJWKSet(jwks as never), { issuer: as.issuer });
      expect(protectedHeader).toMatchObject({ alg, typ: 'auth+jwt' });
      expect(payload.aud).toBe(resource.identity);
    } finally {
      await Promise.all([as.close(), resource.close()]);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { manualClock, sign, tableFetch, tableResolver } from './helpers.js';

const RESOURCE = 'https://resource.example';
const AGENT = 'https://agent.example';

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return (error as AAuthError).code;
}

function agentTable(key = generateKey({ kid: 'k1' }), id = AGENT, extra: Record<string, unknown> = {}) {
  return {
    key,
    table: {
      [`${id}/.well-known/aauth-agent.json`]: { agent: id, jwks_uri: `${id}/jwks.json` },
      [`${id}/jwks.json`]: { keys: [key.toPublishedJwk()] },
      ...extra,
    } as Record<string, unknown>,
  };
}

const req = () => ({ method: 'GET', url: `${RESOURCE}/r`, headers: {} as Record<string, string> });

describe('jwks_uri discovery (wire profile section 4)', () => {
  it('GET {id}/.well-known/aauth-agent.json, then its jwks_uri, then the key by kid', async () => {
    const { key, table } = agentTable();
    const fetch = tableFetch(table);
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await expect(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }))).resolves.toMatchObject({ agent: AGENT });
    expect(fetch.calls).toEqual([`${AGENT}/.well-known/aauth-agent.json`, `${AGENT}/jwks.json`]);
  });

  it('falls back to the name without .json only when .json answers 404', async () => {
    const key = generateKey({ kid: 'k1' });
    const fetch = tableFetch({
      [`${AGENT}/.well-known/aauth-agent`]: { agent: AGENT, jwks_uri: `${AGENT}/keys` },
      [`${AGENT}/keys`]: { keys: [key.toPublishedJwk()] },
    });
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await expect(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }))).resolves.toBeTruthy();
    expect(fetch.calls).toEqual([`${AGENT}/.well-known/aauth-agent.json`, `${AGENT}/.well-known/aauth-agent`, `${AGENT}/keys`]);

    const broken = tableFetch({
      [`${AGENT}/.well-known/aauth-agent.json`]: () => new Response('oops', { status: 500 }),
      [`${AGENT}/.well-known/aauth-agent`]: { agent: AGENT, jwks_uri: `${AGENT}/keys` },
    });
    const v2 = createVerifier({ identity: RESOURCE, fetch: broken, discovery: { resolveHostname: tableResolver() } });
    expect(await code(v2.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })))).toBe('key_discovery_failed');
    expect(broken.calls).toEqual([`${AGENT}/.well-known/aauth-agent.json`]);
  });

  it('refuses metadata whose agent is not the id, byte for byte', async () => {
    const key = generateKey({ kid: 'k1' });
    for (const named of [`${AGENT}/`, 'https://AGENT.example', 'https://other.example']) {
      const fetch = tableFetch({ [`${AGENT}/.well-known/aauth-agent.json`]: { agent: named, jwks_uri: `${AGENT}/jwks.json` } });
      const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
      expect(await code(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })))).toBe('key_discovery_failed');
      expect(fetch.calls).toHaveLength(1);
    }
  });

  it('refuses metadata without jwks_uri and JWKS without keys', async () => {
    const key = generateKey({ kid: 'k1' });
    for (const table of [
      { [`${AGENT}/.well-known/aauth-agent.json`]: { agent: AGENT } },
      { [`${AGENT}/.well-known/aauth-agent.json`]: { agent: AGENT, jwks_uri: 'not a url' } },
      { [`${AGENT}/.well-known/aauth-agent.json`]: { agent: AGENT, jwks_uri: `${AGENT}/j` }, [`${AGENT}/j`]: { nope: [] } },
    ]) {
      const v = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname: tableResolver() } });
      expect(await code(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })))).toBe('key_discovery_failed');
    }
  });

  it('an unknown kid refetches the JWKS once, and not again within a minute', async () => {
    const old = generateKey({ kid: 'k1' });
    const rotated = generateKey({ kid: 'k2' });
    const { table } = agentTable(old);
    const fetch = tableFetch(table);
    const clock = manualClock();
    const v = createVerifier({ identity: RESOURCE, fetch, now: clock.now, discovery: { resolveHostname: tableResolver() } });
    await v.verify(sign(req(), old, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }, { now: clock.now }));
    table[`${AGENT}/jwks.json`] = { keys: [old.toPublishedJwk(), rotated.toPublishedJwk()] };
    clock.advance(30);
    // Fetched 30 s ago: no refetch yet, so the new kid is unknown.
    expect(await code(v.verify(sign(req(), rotated, { scheme: 'jwks_uri', id: AGENT, kid: 'k2' }, { now: clock.now })))).toBe('key_not_found');
    expect(fetch.calls.filter((c) => c.endsWith('/jwks.json'))).toHaveLength(1);
    clock.advance(31);
    await expect(v.verify(sign(req(), rotated, { scheme: 'jwks_uri', id: AGENT, kid: 'k2' }, { now: clock.now }))).resolves.toBeTruthy();
    expect(fetch.calls.filter((c) => c.endsWith('/jwks.json'))).toHaveLength(2);
    // A kid that stays unknown costs no more fetches within the minute.
    expect(await code(v.verify(sign(req(), rotated, { scheme: 'jwks_uri', id: AGENT, kid: 'k9' }, { now: clock.now })))).toBe('key_not_found');
    expect(fetch.calls.filter((c) => c.endsWith('/jwks.json'))).toHaveLength(2);
    // A kid of 8 KiB (the caller's) is quoted cut short: error messages reach logs and span status text.
    const long = await v.verify(sign(req(), rotated, { scheme: 'jwks_uri', id: AGENT, kid: 'K'.repeat(8192) }, { now: clock.now })).then(() => undefined, (e: unknown) => e as Error);
    expect(long?.message).toBe(`Agent: no key with kid "${'K'.repeat(60)}..." in the JWKS`);
  });

  it('a key under the right kid but of another agent does not verify', async () => {
    const { table } = agentTable(generateKey({ kid: 'k1' }));
    const v = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname: tableResolver() } });
    expect(await code(v.verify(sign(req(), generateKey(), { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })))).toBe('signature_invalid');
  });

  it('refuses a published key whose alg is none, HMAC, or another key type\'s (as hwk does); no alg, or the right one, verifies', async () => {
    for (const [alg, expected] of [
      ['HS256', 'unsupported_algorithm'],
      ['none', 'unsupported_algorithm'],
      ['ES256', 'key_alg_mismatch'],
      ['RS256', 'key_alg_mismatch'],
    ] as const) {
      const key = generateKey({ kid: 'k1' });
      const fetch = tableFetch({
        [`${AGENT}/.well-known/aauth-agent.json`]: { agent: AGENT, jwks_uri: `${AGENT}/jwks.json` },
        [`${AGENT}/jwks.json`]: { keys: [{ ...key.toPublishedJwk(), alg }] },
      });
      const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
      expect(await code(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }))), alg).toBe(expected);
    }
    for (const alg of [undefined, 'EdDSA', 'Ed25519']) {
      const key = generateKey({ kid: 'k1' });
      const published = { ...key.toPublishedJwk(), alg } as Record<string, unknown>;
      if (alg === undefined) delete published.alg;
      const fetch = tableFetch({
        [`${AGENT}/.well-known/aauth-agent.json`]: { agent: AGENT, jwks_uri: `${AGENT}/jwks.json` },
        [`${AGENT}/jwks.json`]: { keys: [published] },
      });
      const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
      await expect(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })), String(alg)).resolves.toMatchObject({ agent: AGENT });
    }
  });

  it('refuses a JWKS that publishes a private key', async () => {
    const key = generateKey({ kid: 'k1' });
    const { table } = agentTable(key);
    table[`${AGENT}/jwks.json`] = { keys: [key.toPrivateJwk()] };
    const v = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname: tableResolver() } });
    expect(await code(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })))).toBe('key_invalid');
  });

  it('concurrent requests of one agent make one metadata and one JWKS fetch', async () => {
    const { key, table } = agentTable();
    const slow = (value: unknown) => () => new Response(JSON.stringify(value), { status: 200 });
    const fetch = tableFetch(Object.fromEntries(Object.entries(table).map(([k, v]) => [k, slow(v)])));
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await Promise.all(Array.from({ length: 25 }, () => v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }))));
    expect(fetch.calls).toHaveLength(2);
  });

  it('verify(request, { caller }) holds one caller to discovery.maxInflightPerCaller; another caller is served (issue 13)', async () => {
    const SLOW = 'https://slow.example';
    let release: () => void = () => undefined;
    let reached: () => void = () => undefined;
    const reachedSlow = new Promise<void>((r) => (reached = r));
    const { key, table } = agentTable();
    table[`${SLOW}/.well-known/aauth-agent.json`] = () => {
      reached();
      return new Promise<Response>((resolve) => (release = () => resolve(new Response('{}', { status: 500 })))) as unknown as Response;
    };
    const v = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname: tableResolver(), maxInflightPerCaller: 1 } });
    const held = v.verify(sign(req(), generateKey({ kid: 'k1' }), { scheme: 'jwks_uri', id: SLOW, kid: 'k1' }), { caller: '192.0.2.1' });
    await reachedSlow;
    // The same caller naming another host is refused: the per-caller limit, not the per-host one.
    const busy = await v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }), { caller: '192.0.2.1' }).then(() => undefined, (e: unknown) => e as AAuthError);
    expect([busy?.code, busy?.status]).toEqual(['key_discovery_busy', 503]);
    expect(busy?.message).toMatch(/maxInflightPerCaller 1/);
    // Another caller is served.
    await expect(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' }), { caller: '192.0.2.2' })).resolves.toMatchObject({ agent: AGENT });
    release();
    expect(await code(held)).toBe('key_discovery_failed');
  });

  it('Signature-Key ids that are not identity URLs are refused without fetching', async () => {
    const fetch = tableFetch({});
    const v = createVerifier({ identity: RESOURCE, fetch });
    const key = generateKey();
    expect(await code(v.verify(sign(req(), key, `sig=(scheme=jwks_uri id="${AGENT}/" kid="k1")`)))).toBe('signature_key_malformed');
    expect(await code(v.verify(sign(req(), key, `sig=(scheme=jwks_uri id="${AGENT}?a=1" kid="k1")`)))).toBe('signature_key_malformed');
    expect(await code(v.verify(sign(req(), key, `sig=(scheme=jwks_uri id="agent" kid="k1")`)))).toBe('signature_key_malformed');
    expect(await code(v.verify(sign(req(), key, `sig=(scheme=jwks_uri id="http://agent.example" kid="k1")`)))).toBe('egress_denied');
    expect(await code(v.verify(sign(req(), key, `sig=(scheme=jwks_uri id="ftp://agent.example" kid="k1")`)))).toBe('egress_denied');
    expect(fetch.calls).toEqual([]);
  });
});

describe('egress policy (wire profile sections 1 and 4)', () => {
  it('refuses names that resolve to private, loopback or link-local addresses', async () => {
    for (const address of ['10.1.2.3', '127.0.0.1', '169.254.169.254', '192.168.1.1', '172.20.0.5', '::1', 'fd00::5', 'fe80::1', '::ffff:10.0.0.1']) {
      const fetch = tableFetch({});
      const resolveHostname = tableResolver({ 'agent.example': [address] });
      const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname } });
      expect(await code(v.resolveAgentKey(AGENT, 'k1'))).toBe('egress_denied');
      expect(resolveHostname.lookups).toEqual(['agent.example']);
      expect(fetch.calls).toEqual([]);
    }
  });

  it('refuses a name with one private address among public ones (DNS round robin)', async () => {
    const fetch = tableFetch({});
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver({ 'agent.example': ['93.184.215.14', '10.0.0.1'] }) } });
    expect(await code(v.resolveAgentKey(AGENT, 'k1'))).toBe('egress_denied');
  });

  it('refuses private IP literals without resolving', async () => {
    const resolveHostname = tableResolver();
    const v = createVerifier({ identity: RESOURCE, fetch: tableFetch({}), discovery: { resolveHostname } });
    for (const id of ['https://169.254.169.254', 'https://10.0.0.1', 'https://[fd00::1]', 'https://[::ffff:192.168.0.1]', 'https://0.0.0.0']) {
      expect(await code(v.resolveAgentKey(id, 'k1'))).toBe('egress_denied');
    }
    expect(resolveHostname.lookups).toEqual([]);
  });

  it('local names are allowed over http and never resolved', async () => {
    const { key, table } = agentTable(generateKey({ kid: 'k1' }), 'http://agent.localhost:3000');
    const resolveHostname = tableResolver();
    const v = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname } });
    await expect(v.resolveAgentKey('http://agent.localhost:3000', 'k1')).resolves.toMatchObject({ thumbprint: key.thumbprint });
    expect(resolveHostname.lookups).toEqual([]);
  });

  it('allowHttpHosts permits plain http to named hosts on a private network', async () => {
    const id = 'http://agent-svc:8080';
    const { key, table } = agentTable(generateKey({ kid: 'k1' }), id);
    const resolveHostname = tableResolver({ 'agent-svc': ['172.18.0.4'] });
    const denied = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname } });
    expect(await code(denied.resolveAgentKey(id, 'k1'))).toBe('egress_denied');
    const allowed = createVerifier({ identity: RESOURCE, fetch: tableFetch(table), discovery: { resolveHostname, allowHttpHosts: ['agent-svc:8080'] } });
    await expect(allowed.resolveAgentKey(id, 'k1')).resolves.toMatchObject({ thumbprint: key.thumbprint });
  });

  it('allowHosts restricts fetches to the listed hosts', async () => {
    const { table } = agentTable(generateKey({ kid: 'k1' }));
    const fetch = tableFetch(table);
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver(), allowHosts: ['*.trusted.example', 'partner.example'] } });
    expect(await code(v.resolveAgentKey(AGENT, 'k1'))).toBe('egress_denied');
    expect(fetch.calls).toEqual([]);
    const ok = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver(), allowHosts: ['agent.example'] } });
    await expect(ok.resolveAgentKey(AGENT, 'k1')).resolves.toBeTruthy();
  });

  it('a jwks_uri on another host is subject to the same policy', async () => {
    const key = generateKey({ kid: 'k1' });
    const fetch = tableFetch({ [`${AGENT}/.well-known/aauth-agent.json`]: { agent: AGENT, jwks_uri: 'https://metadata.internal/keys' } });
    const v = createVerifier({
      identity: RESOURCE,
      fetch,
      discovery: { resolveHostname: tableResolver({ 'metadata.internal': ['10.0.0.9'] }) },
    });
    expect(await code(v.verify(sign(req(), key, { scheme: 'jwks_uri', id: AGENT, kid: 'k1' })))).toBe('egress_denied');
    expect(fetch.calls).toEqual([`${AGENT}/.well-known/aauth-agent.json`]);
  });

  it('a resolver failure is key_discovery_failed', async () => {
    const v = createVerifier({
      identity: RESOURCE,
      fetch: tableFetch({}),
      discovery: { resolveHostname: async () => Promise.reject(new Error('ENOTFOUND')) },
    });
    expect(await code(v.resolveAgentKey(AGENT, 'k1'))).toBe('key_discovery_failed');
  });
});

describe('issuer key discovery (wire profile section 7)', () => {
  const ISS = 'https://as.example/realms/r';
  it('uses the metadata jwks_uri', async () => {
    const key = generateKey({ kid: 'i1' });
    const fetch = tableFetch({
      [`${ISS}/.well-known/aauth-issuer.json`]: { issuer: ISS, jwks_uri: `${ISS}/protocol/aauth/certs` },
      [`${ISS}/protocol/aauth/certs`]: { keys: [key.toPublishedJwk()] },
    });
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await expect(v.resolveIssuerJwk(ISS, 'i1')).resolves.toMatchObject({ x: key.jwk.x });
  });

  it('falls back to {iss}/protocol/openid-connect/certs when there is no issuer metadata', async () => {
    const key = generateKey({ kid: 'i1' });
    const fetch = tableFetch({ [`${ISS}/protocol/openid-connect/certs`]: { keys: [{ ...key.toPublishedJwk(), use: 'sig' }, { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'enc', use: 'enc' }] } });
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await expect(v.resolveIssuerJwk(ISS, 'i1')).resolves.toMatchObject({ x: key.jwk.x });
    expect(fetch.calls).toEqual([
      `${ISS}/.well-known/aauth-issuer.json`,
      `${ISS}/.well-known/aauth-issuer`,
      `${ISS}/.well-known/openid-configuration`,
      `${ISS}/protocol/openid-connect/certs`,
    ]);
    expect(await code(v.resolveIssuerJwk(ISS, 'enc'))).toBe('key_not_found');
  });

  it('without AAuth issuer metadata, uses the jwks_uri of the OpenID Provider metadata (a plain OIDC issuer)', async () => {
    const key = generateKey({ kid: 'i1' });
    const fetch = tableFetch({
      [`${ISS}/.well-known/openid-configuration`]: { issuer: ISS, token_endpoint: `${ISS}/token`, jwks_uri: 'https://keys.as.example/r/jwks' },
      'https://keys.as.example/r/jwks': { keys: [key.toPublishedJwk()] },
    });
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await expect(v.resolveIssuerJwk(ISS, 'i1')).resolves.toMatchObject({ x: key.jwk.x });
    expect(fetch.calls).toEqual([
      `${ISS}/.well-known/aauth-issuer.json`,
      `${ISS}/.well-known/aauth-issuer`,
      `${ISS}/.well-known/openid-configuration`,
      'https://keys.as.example/r/jwks',
    ]);
  });

  it('AAuth issuer metadata wins over OpenID Provider metadata (never fetched then)', async () => {
    const key = generateKey({ kid: 'i1' });
    const fetch = tableFetch({
      [`${ISS}/.well-known/aauth-issuer.json`]: { issuer: ISS, jwks_uri: `${ISS}/protocol/aauth/certs` },
      [`${ISS}/protocol/aauth/certs`]: { keys: [key.toPublishedJwk()] },
      [`${ISS}/.well-known/openid-configuration`]: { issuer: ISS, jwks_uri: `${ISS}/other` },
    });
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    await expect(v.resolveIssuerJwk(ISS, 'i1')).resolves.toMatchObject({ x: key.jwk.x });
    expect(fetch.calls).not.toContain(`${ISS}/.well-known/openid-configuration`);
  });

  it('refuses OpenID Provider metadata naming another issuer, or without a usable jwks_uri (no fallback then)', async () => {
    const key = generateKey({ kid: 'i1' });
    const certs = { [`${ISS}/protocol/openid-connect/certs`]: { keys: [key.toPublishedJwk()] } };
    for (const doc of [
      { issuer: 'https://evil.example/realms/r', jwks_uri: 'https://evil.example/jwks' },
      { issuer: `${ISS}/`, jwks_uri: `${ISS}/protocol/openid-connect/certs` },
      { issuer: ISS },
      { issuer: ISS, jwks_uri: 'not a url' },
    ]) {
      const fetch = tableFetch({ [`${ISS}/.well-known/openid-configuration`]: doc, ...certs });
      const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
      expect(await code(v.resolveIssuerJwk(ISS, 'i1')), JSON.stringify(doc)).toBe('key_discovery_failed');
      expect(fetch.calls).not.toContain(`${ISS}/protocol/openid-connect/certs`);
    }
  });

  it('refuses issuer metadata naming another issuer', async () => {
    const fetch = tableFetch({ [`${ISS}/.well-known/aauth-issuer.json`]: { issuer: 'https://evil.example', jwks_uri: `${ISS}/certs` } });
    const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
    expect(await code(v.resolveIssuerJwk(ISS, 'i1'))).toBe('key_discovery_failed');
  });
});

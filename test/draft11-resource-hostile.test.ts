// Issue 15 acceptance: the resource-side hostile-input table gains -11 cases, each with its
// specific status and code (draft-11 profile sections 3, 4, 6; HTTP Signature Keys -09 section 5).
// A signature failure is always a 401 with Signature-Error (and Accept-Signature-*), a -11 body is
// application/problem+json; a 403 never carries Signature-Error or Accept-Signature-*.
import { generateKey, mintResourceToken11, parseRequirement, parseSignatureError, signRequest, type SigningKey } from '@aauth-kit/core';
import { serializeSignatureKey } from '@aauth-kit/core/internal';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentToken, authToken11, fetch11, personToken, startIssuer11, type Issuer11 } from './fixtures/draft11-issuers.js';
import { listen, type Listening } from './fixtures/http.js';

let ap: Issuer11;
let ps: Issuer11;
let evilPs: Issuer11;
let liar: Issuer11;
let mute: Issuer11;
let site: Listening;
let only11: Listening;
let url: string;
let url11: string;
const revoked = new Set<string>();
const agentKey: SigningKey = generateKey({ kid: 'agent-11' });
const otherKey: SigningKey = generateKey({ kid: 'other' });
const now = () => Math.floor(Date.now() / 1000);

/** A JWT with any header and claims, signed by `by` (Ed25519 unless the header says otherwise). */
function craft(by: Issuer11, header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'Ed25519', kid: by.key.kid, ...header } as never).sign(by.key.privateKeyObject);
}

/** Standard -11 auth-token claims from `ps` for `aud`, bound to `key`'s jwk with `alg`. */
function authClaims(aud: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = now();
  return { iss: ps.issuer, dwk: 'aauth-person.json', aud, jti: `j-${Math.random()}`, ps: ps.issuer, sub: 'person-7', scope: 'data.read', cnf: { jwk: { ...agentKey.jwk, alg: 'Ed25519' } }, iat, exp: iat + 600, ...extra };
}

beforeAll(async () => {
  ap = await startIssuer11('aauth-agent.json');
  ps = await startIssuer11('aauth-person.json');
  evilPs = await startIssuer11('aauth-person.json');
  // Metadata whose issuer is another server (host-poisoned metadata), and one without issuer.
  liar = await startIssuer11('aauth-person.json', { metadata: { issuer: 'https://ps.example' } });
  mute = await startIssuer11('aauth-person.json');
  delete mute.metadata.issuer;

  const app = express();
  site = await listen(app);
  url = site.origin;
  const resource = createResource({
    identity: url,
    key: generateKey({ kid: 'resource-1' }),
    scopes: { 'data.read': 'Read', 'data.write': 'Write' },
    generations: ['draft-11'],
    draft11: { allowLoopback: true, personServers: [ps.issuer, liar.issuer, mute.issuer] },
    revocation: { isRevoked: (iss, jti) => revoked.has(`${iss} ${jti}`) },
  });
  const ok = (req: Request, res: Response) => res.json(req.aauth);
  app.use(resource.wellKnown());
  app.get('/open', resource.require(), ok);
  app.get('/me', resource.require({ level: 'person' }), ok);
  app.get('/data', resource.require({ scope: 'data.read' }), ok);
  app.post('/write', resource.require({ scope: 'data.write', requiredComponents: ['x-request-id'] }), ok);

  // A resource configured to the Keycloak profile alone: -11 tokens are not its tokens.
  const app2 = express();
  only11 = await listen(app2);
  url11 = only11.origin;
  const keycloakOnly = createResource({ identity: url11, key: generateKey({ kid: 'r2' }), authServer: ps.issuer, generations: ['keycloak'] });
  app2.get('/data', keycloakOnly.require({ scope: 'data.read' }), ok);
});

afterAll(async () => {
  await Promise.all([ap, ps, evilPs, liar, mute, site, only11].map((s) => s?.close()));
});

type Answer = Awaited<ReturnType<typeof fetch11>>;

/** A -11 signature failure: 401, Signature-Error with `code`, Accept-Signature-*, problem+json `{error: code}`. */
function expectSignatureError(res: Answer, code: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(401);
  expect(parseSignatureError(res.headers.get('signature-error'))).toMatchObject({ error: code, known: true });
  expect(res.headers.get('accept-signature-scheme')).not.toBeNull();
  expect(res.headers.get('accept-signature-alg')).toBe('Ed25519, ES256');
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ error: code, type: `urn:ietf:params:sig-error:${code}`, detail: expect.any(String) });
}

describe('-11 hostile input at the resource: typ confusion between the four token kinds', () => {
  it('a resource token presented under sig=jwt is invalid_jwt (it is nobody\'s credential)', async () => {
    const rt = await mintResourceToken11(generateKey({ kid: 'r' }), { issuer: url, audience: ps.issuer, ps: ps.issuer, sub: 'p', presentedJti: 'x', agentJkt: agentKey.thumbprint, scope: 'data.read', allowLoopback: true });
    expectSignatureError(await fetch11(`${url}/open`, agentKey, rt), 'invalid_jwt');
  });

  it('a person token presented as an auth token: 401 requirement=auth-token with a resource token, no Signature-Error', async () => {
    const res = await fetch11(`${url}/data`, agentKey, await personToken(ps, agentKey, url));
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBeNull();
    expect(parseRequirement(res.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'auth-token', resourceToken: expect.any(String) });
    expect(res.body).toMatchObject({ error: 'invalid_auth_token' });
  });

  it('person-token claims under typ aa-auth+jwt (no ps) are invalid_jwt', async () => {
    const { ps: _ps, scope: _s, ...person } = authClaims(url);
    expectSignatureError(await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'aa-auth+jwt' }, person)), 'invalid_jwt');
  });

  it('an agent token whose dwk names the person document is invalid_jwt', async () => {
    const iat = now();
    const claims = { iss: ap.issuer, dwk: 'aauth-person.json', sub: 'aauth:bot@127.0.0.1', jti: 'a1', cnf: { jwk: { ...agentKey.jwk, alg: 'Ed25519' } }, iat, exp: iat + 600 };
    expectSignatureError(await fetch11(`${url}/open`, agentKey, await craft(ap, { typ: 'aa-agent+jwt' }, claims)), 'invalid_jwt');
  });

  it('a Keycloak-profile auth+jwt at a resource configured to -11 is invalid_jwt', async () => {
    expectSignatureError(await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'auth+jwt', alg: 'EdDSA' }, authClaims(url))), 'invalid_jwt');
  });

  it('an aa-auth+jwt at a resource configured to the Keycloak profile is invalid_auth_token (JSON, the Keycloak answer)', async () => {
    const res = await fetch11(`${url11}/data`, agentKey, await authToken11(ps, agentKey, url11, { scope: 'data.read' }));
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ error: 'invalid_auth_token', error_description: expect.stringContaining('aa-auth+jwt') });
  });
});

describe('-11 hostile input: algorithms and keys (draft-11 profile section 3)', () => {
  it('EdDSA as a token alg in -11 is invalid_jwt', async () => {
    expectSignatureError(await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'aa-auth+jwt', alg: 'EdDSA' }, authClaims(url))), 'invalid_jwt');
  });

  it('EdDSA as an hwk alg in -11 is unsupported_algorithm with Accept-Signature-Alg', async () => {
    const request = { method: 'GET', url: `${url}/open`, headers: {} };
    const sk = serializeSignatureKey({ scheme: 'hwk', jwk: { ...agentKey.jwk, alg: 'EdDSA' } }, { form: 'dictionary' });
    const r = await fetch(request.url, { headers: signRequest(request, { key: agentKey, signatureKey: sk }).headers });
    const res = { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
    expectSignatureError(res, 'unsupported_algorithm');
    expect(res.headers.get('accept-signature-scheme')).toBe('hwk, jwks_uri, jwt');
  });

  it('a cnf.jwk without alg is unsupported_algorithm', async () => {
    const res = await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'aa-auth+jwt' }, authClaims(url, { cnf: { jwk: agentKey.jwk } })));
    expectSignatureError(res, 'unsupported_algorithm');
  });

  it('a cnf.jwk whose alg disagrees with its kty/crv is invalid_key', async () => {
    const res = await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'aa-auth+jwt' }, authClaims(url, { cnf: { jwk: { ...agentKey.jwk, alg: 'ES256' } } })));
    expectSignatureError(res, 'invalid_key');
  });

  it('an auth token bound to another key than the one that signed the request is invalid_signature', async () => {
    const bound = await authToken11(ps, otherKey, url, { scope: 'data.read' });
    expectSignatureError(await fetch11(`${url}/data`, agentKey, bound), 'invalid_signature');
  });
});

describe('-11 hostile input: issuers and metadata (draft-11 profile section 2)', () => {
  it('metadata whose issuer differs from its URL is issuer_mismatch', async () => {
    expectSignatureError(await fetch11(`${url}/me`, agentKey, await personToken(liar, agentKey, url)), 'issuer_mismatch');
  });

  it('metadata without issuer is issuer_missing', async () => {
    expectSignatureError(await fetch11(`${url}/me`, agentKey, await personToken(mute, agentKey, url)), 'issuer_missing');
  });

  it('a person server the resource does not trust is invalid_jwt', async () => {
    expectSignatureError(await fetch11(`${url}/me`, agentKey, await personToken(evilPs, agentKey, url)), 'invalid_jwt');
  });

  it('an auth token for another resource, or carrying agent or act, is invalid_jwt', async () => {
    expectSignatureError(await fetch11(`${url}/data`, agentKey, await authToken11(ps, agentKey, 'https://other.example', { scope: 'data.read' })), 'invalid_jwt');
    expectSignatureError(await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'aa-auth+jwt' }, authClaims(url, { agent: 'aauth:bot@x.example' }))), 'invalid_jwt');
    expectSignatureError(await fetch11(`${url}/data`, agentKey, await craft(ps, { typ: 'aa-auth+jwt' }, authClaims(url, { act: { sub: 'x' } }))), 'invalid_jwt');
  });

  it('a person token living longer than 1 h is invalid_jwt; an expired one expired_jwt (no leeway)', async () => {
    const iat = now();
    const long = { iss: ps.issuer, dwk: 'aauth-person.json', aud: url, sub: 'p', jti: 'l1', cnf: { jwk: { ...agentKey.jwk, alg: 'Ed25519' } }, iat, exp: iat + 3601 };
    expectSignatureError(await fetch11(`${url}/me`, agentKey, await craft(ps, { typ: 'aa-person+jwt' }, long)), 'invalid_jwt');
    const expired = { ...long, jti: 'l2', iat: iat - 100, exp: iat - 1 };
    expectSignatureError(await fetch11(`${url}/me`, agentKey, await craft(ps, { typ: 'aa-person+jwt' }, expired)), 'expired_jwt');
  });
});

describe('-11 hostile input: signatures, revocation, requirements', () => {
  it('created ahead of the clock by more than the window is clock_skew', async () => {
    const res = await fetch11(`${url}/open`, agentKey, await agentToken(ap, agentKey), { now: () => Date.now() / 1000 + 600 });
    expectSignatureError(res, 'clock_skew');
  });

  it('a revoked auth token is revoked_jwt with requirement=person-token, never a new resource token (RS-43)', async () => {
    const jwt = await authToken11(ps, agentKey, url, { scope: 'data.read' });
    expect((await fetch11(`${url}/data`, agentKey, jwt)).status).toBe(200);
    const { jti } = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string };
    revoked.add(`${ps.issuer} ${jti}`);
    const res = await fetch11(`${url}/data`, agentKey, jwt);
    expectSignatureError(res, 'revoked_jwt');
    expect(parseRequirement(res.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'person-token' });
  });

  it('an uncovered required component is invalid_input with required_input', async () => {
    // The route requires x-request-id to be covered; the header is sent but not signed over.
    const res = await fetch11(`${url}/write`, agentKey, await authToken11(ps, agentKey, url, { scope: 'data.write' }), { method: 'POST', body: '{}', headers: { 'x-request-id': 'r-1' } });
    expectSignatureError(res, 'invalid_input');
    expect(parseSignatureError(res.headers.get('signature-error'))!.requiredInput).toEqual(['@method', '@authority', '@path', 'content-digest', 'x-request-id', 'signature-key']);
  });

  it('an unsigned request to a -11 resource: invalid_signature, and the route\'s requirement', async () => {
    const r = await fetch(`${url}/me`);
    const res = { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
    expectSignatureError(res, 'invalid_signature');
    expect(parseRequirement(res.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'person-token' });
  });

  it('an unknown Signature-Key scheme is unsupported_scheme with the schemes the route accepts', async () => {
    const request = { method: 'GET', url: `${url}/me`, headers: {} };
    // Signed with an inline key, then the member swapped for a scheme the kit does not implement:
    // the scheme is read (and refused) before any signature check.
    const headers = { ...signRequest(request, { key: agentKey }).headers, 'signature-key': 'sig=x509;x5c="MIIB"' };
    const r = await fetch(request.url, { headers });
    const res = { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
    expectSignatureError(res, 'unsupported_scheme');
    expect(res.headers.get('accept-signature-scheme')).toBe('jwt');
  });

  it('an agent token at a person route is 401 requirement=person-token (no Signature-Error)', async () => {
    const res = await fetch11(`${url}/me`, agentKey, await agentToken(ap, agentKey));
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBeNull();
    expect(parseRequirement(res.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'person-token' });
  });

  it('an auth token without the route\'s scope: a step-up challenge whose resource token names that auth token (RS-34)', async () => {
    const low = await authToken11(ps, agentKey, url, { scope: 'data.write' });
    const step = await fetch11(`${url}/data`, agentKey, low);
    expect(step.status).toBe(401);
    expect(step.headers.get('signature-error')).toBeNull();
    const rt = parseRequirement(step.headers.get('aauth-requirement')!).resourceToken!;
    const claims = JSON.parse(Buffer.from(rt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const lowClaims = JSON.parse(Buffer.from(low.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ aud: ps.issuer, ps: ps.issuer, sub: 'person-7', presented_jti: lowClaims.jti, agent_jkt: agentKey.thumbprint, scope: 'data.read' });
  });

  it('a body over maxBodyBytes from a -11 caller: 413 in problem+json, as its other refusals are', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) });
    const res = await fetch11(`${url}/write`, agentKey, await authToken11(ps, agentKey, url, { scope: 'data.write' }), { method: 'POST', body: big, headers: { 'x-request-id': 'r-2' }, cover: ['x-request-id'] });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body).toMatchObject({ error: 'invalid_request', detail: expect.stringMatching(/body/i) });
  });

  it('the server answers a valid request right after the table', async () => {
    const res = await fetch11(`${url}/me`, agentKey, await personToken(ps, agentKey, url));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ generation: 'draft-11', accessMode: 'person-token', person: { issuer: ps.issuer, sub: 'person-7' } });
  });
});

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from './fixtures/raw-request.js';
import { createWellKnownHandler, generateKey, type WellKnownHandler } from '@aauth-kit/core';
import { JWKS_PATH } from '@aauth-kit/core/internal';

const a = generateKey({ kid: 'a-1' });
const b = generateKey({ kid: 'b-1' });
const metadata = { agent: 'http://127.0.0.1:1', jwks_uri: 'http://127.0.0.1:1/jwks.json' };

describe('createWellKnownHandler as a plain node:http listener', () => {
  let server: Server;
  let origin: string;
  let handler: WellKnownHandler;

  beforeAll(async () => {
    handler = createWellKnownHandler({
      documents: { '/.well-known/aauth-agent.json': metadata, '/.well-known/aauth-agent': metadata },
      // `alg` is dropped (wire profile section 2) and the same key given twice is published once.
      keys: [{ ...a.toPublishedJwk(), alg: 'EdDSA' }, b.toPublishedJwk(), a.toPublishedJwk()],
      label: 'test handler',
    });
    server = createServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.close();
    server.closeAllConnections();
  });

  it('serves the documents and one JWKS (no alg, one entry per key) with cache headers', async () => {
    for (const path of ['/.well-known/aauth-agent.json', '/.well-known/aauth-agent', '/.well-known/aauth-agent.json?x=1']) {
      const res = await send(origin, 'GET', path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['cache-control']).toBe('public, max-age=300');
      expect(JSON.parse(res.body)).toEqual(metadata);
    }
    const jwks = await send(origin, 'GET', JWKS_PATH);
    expect(JSON.parse(jwks.body)).toEqual({
      keys: [
        { kty: 'OKP', crv: 'Ed25519', x: a.jwk.x, kid: 'a-1' },
        { kty: 'OKP', crv: 'Ed25519', x: b.jwk.x, kid: 'b-1' },
      ],
    });
    expect(handler.keys.map((k) => k.kid)).toEqual(['a-1', 'b-1']);
    expect(Object.keys(handler.documents).sort()).toEqual(['/.well-known/aauth-agent', '/.well-known/aauth-agent.json', '/jwks.json']);
  });

  it('HEAD gets the headers and no body', async () => {
    const res = await send(origin, 'HEAD', JWKS_PATH);
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBeGreaterThan(20);
    expect(res.body).toBe('');
  });

  it('without next(): 404 for another path, 405 with Allow for another method', async () => {
    const missing = await send(origin, 'GET', '/other');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'not_found' });
    const post = await send(origin, 'POST', JWKS_PATH);
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(post.body)).toMatchObject({ error: 'method_not_allowed' });
  });
});

describe('createWellKnownHandler options', () => {
  it('hands anything else to next()', () => {
    const handler = createWellKnownHandler({ documents: {}, keys: [a.toPublishedJwk()] });
    let nexted = 0;
    handler({ method: 'POST', url: '/jwks.json' } as never, {} as never, () => nexted++);
    handler({ method: 'GET', url: '/elsewhere' } as never, {} as never, () => nexted++);
    expect(nexted).toBe(2);
  });

  it('refuses two different keys under one kid, a key without kid and a relative path', () => {
    const clash = generateKey({ kid: 'a-1' });
    expect(() => createWellKnownHandler({ documents: {}, keys: [a.toPublishedJwk(), clash.toPublishedJwk()], label: 'x' })).toThrow(
      /x: two different keys share the kid "a-1"; give each key its own kid/,
    );
    const { kid: _kid, ...noKid } = a.toPublishedJwk();
    expect(() => createWellKnownHandler({ documents: {}, keys: [noKid] })).toThrow(TypeError);
    expect(() => createWellKnownHandler({ documents: { 'jwks': {} }, keys: [] })).toThrow(/must start with \//);
  });
});

describe('createWellKnownHandler keyAlg (draft-11 profile section 2: every -11 key carries alg)', () => {
  it('publishes Ed25519 / ES256 derived from the key, whatever alg was passed in', () => {
    const ec = generateKey({ alg: 'ES256', kid: 'ec-1' });
    const handler = createWellKnownHandler({ documents: {}, keys: [{ ...a.toPublishedJwk(), alg: 'EdDSA' }, ec.toPublishedJwk()], keyAlg: true });
    expect(handler.keys).toEqual([
      { ...a.toPublishedJwk(), alg: 'Ed25519' },
      { ...ec.toPublishedJwk(), alg: 'ES256' },
    ]);
    expect((handler.documents[JWKS_PATH] as { keys: unknown[] }).keys).toEqual(handler.keys);
    // Without it, the Keycloak profile's JWKS: no alg.
    expect(createWellKnownHandler({ documents: {}, keys: [{ ...a.toPublishedJwk(), alg: 'EdDSA' }] }).keys).toEqual([a.toPublishedJwk()]);
  });
});

describe('createWellKnownHandler identityPath: the documents under the identity URL path too', () => {
  it('lists every document and the JWKS at both paths; a path with a query is refused', () => {
    const h = createWellKnownHandler({ documents: { '/.well-known/aauth-agent.json': metadata }, keys: [a.toPublishedJwk()], identityPath: '/agents/a/' });
    expect(Object.keys(h.documents).sort()).toEqual(['/.well-known/aauth-agent.json', '/agents/a/.well-known/aauth-agent.json', '/agents/a/jwks.json', JWKS_PATH].sort());
    expect(Object.keys(createWellKnownHandler({ documents: {}, keys: [a.toPublishedJwk()], identityPath: '/' }).documents)).toEqual([JWKS_PATH]);
    expect(() => createWellKnownHandler({ documents: {}, keys: [a.toPublishedJwk()], identityPath: 'api?x=1', label: 'x' })).toThrow('x: identityPath must be a path starting with / (got "api?x=1")');
  });
});

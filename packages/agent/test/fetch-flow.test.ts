import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { generateKey, isAAuthError } from '@aauth-kit/core';
import { describe, expect, it } from 'vitest';
import { AAuthChallengeError, createAgent } from '../src/index.js';
import { countingServer } from '../../../test/fixtures/http.js';
import { scenario, type Scenario } from './fixtures/scenario.js';
import { caught } from '../../../test/fixtures/caught.js';
import { trackClosables } from '../../../test/fixtures/track.js';

const track = trackClosables();

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe('agent.fetch over loopback HTTP (issue 4)', () => {
  it('plain call: a signed request the resource accepts is sent once, with jwks_uri', async () => {
    const s: Scenario = await track(scenario({ resource: { level: 'identity' } }));
    const res = await s.hosted.agent.fetch(`${s.resource.url}/hello?x=1`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ ok: true, scheme: 'jwks_uri', agent: s.hosted.identity });
    expect(s.resource.calls).toHaveLength(1);
    expect(s.as.requests).toEqual([]);
    // The resource resolved the agent's key through its well-known documents (section 4).
    expect(s.hosted.hits).toEqual(expect.arrayContaining(['/.well-known/aauth-agent.json', '/jwks.json']));
  });

  it('challenge -> token -> retry: the retry carries the auth token in the jwt scheme', async () => {
    const s = await track(scenario());
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ ok: true, scheme: 'jwt', agent: s.hosted.identity, sub: 'user-1' });
    expect(s.resource.calls.map((c) => [c.scheme, c.status])).toEqual([
      ['jwks_uri', 401],
      ['jwt', 200],
    ]);
    expect(s.as.tokenRequests).toHaveLength(1);
    const tr = s.as.tokenRequests[0]!;
    expect(Object.keys(tr.body)).toEqual(['resource_token']);
    expect(tr.scheme).toBe('jwks_uri');
    expect(tr.signer).toBe(s.hosted.identity);
    expect(tr.components).toEqual(expect.arrayContaining(['content-type', 'content-digest']));
    expect(tr.prefer).toBe('wait=45');
    expect(tr.contentType).toBe('application/json');
    expect(s.events.map((e) => e.type)).toEqual(['signed', 'challenged', 'exchanged', 'retried', 'signed']);
  });

  it('an async onEvent hook that rejects neither breaks the call nor leaves an unhandled rejection (which would end the process)', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const seen: string[] = [];
      const s = await track(
        scenario({
          agent: {
            onEvent: async (e) => {
              seen.push(e.type);
              throw new Error('event store down');
            },
          },
        }),
      );
      expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
      expect(seen).toEqual(['signed', 'challenged', 'exchanged', 'retried', 'signed']);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('exchange: the upstream token goes to the token endpoint and the new token acts for the same user', async () => {
    const s = await track(scenario());
    const backendKey = generateKey();
    const upstream = await s.as.issue({ aud: s.hosted.identity, agent: 'http://backend.localhost:9', sub: 'alice', scope: 'data.read', cnf: backendKey.jwk });
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`, { upstreamToken: upstream });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ sub: 'alice', act: { agent: 'http://backend.localhost:9', sub: 'alice' } });
    expect(s.as.tokenRequests).toHaveLength(1);
    expect(s.as.tokenRequests[0]!.body).toEqual({ resource_token: expect.any(String), upstream_token: upstream });
    // The same resource without the upstream token is another cache entry: a second exchange.
    const plain = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(await json(plain)).toMatchObject({ sub: 'user-1' });
    expect(s.as.tokenRequests).toHaveLength(2);
    expect(s.as.tokenRequests[1]!.body).not.toHaveProperty('upstream_token');
  });

  it('a pseudonymous agent signs with hwk, and so does its token request', async () => {
    const s = await track(scenario());
    const agent = createAgent({ key: generateKey(), authServer: s.as.issuer });
    const res = await agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(200);
    expect(s.resource.calls.map((c) => c.scheme)).toEqual(['hwk', 'jwt']);
    expect(s.as.tokenRequests[0]!.scheme).toBe('hwk');
    expect(s.as.tokenRequests[0]!.signer).toBe(`pseudonymous:${agent.key.thumbprint}`);
  });

  for (const spelling of ['AAuth-Requirement', 'Agent-Auth'] as const) {
    it(`answers the ${spelling} spelling of the challenge`, async () => {
      const s = await track(scenario({ resource: { spelling } }));
      const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
      expect(res.status).toBe(200);
      expect(s.as.tokenRequests).toHaveLength(1);
    });
  }

  it('never loops: a resource that always challenges is called exactly twice and its 401 is returned', async () => {
    const s = await track(scenario({ resource: { alwaysChallenge: true } }));
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: 'invalid_auth_token' });
    expect(s.resource.calls).toHaveLength(2);
    expect(s.as.tokenRequests).toHaveLength(1);
    expect(s.events.at(-1)).toMatchObject({ type: 'failed', code: 'challenge_unsatisfiable' });
    // The refused token is not offered again: the next call starts over, again exactly twice.
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(s.resource.calls).toHaveLength(4);
    expect(s.resource.calls[2]!.scheme).toBe('jwks_uri');
  });

  it('100 concurrent calls meeting one challenge make exactly one token request', async () => {
    const s = await track(scenario({ as: { delayMs: 150 } }));
    const responses = await Promise.all(Array.from({ length: 100 }, () => s.hosted.agent.fetch(`${s.resource.url}/data`)));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(s.as.tokenRequests).toHaveLength(1);
    expect(s.resource.calls).toHaveLength(200);
    await Promise.all(responses.map((r) => r.arrayBuffer()));
  });

  it('reuses a cached token: on the same route directly, on another route of the same scope after one challenge', async () => {
    const s = await track(scenario());
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    const again = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(again.status).toBe(200);
    expect(s.resource.calls.map((c) => c.scheme)).toEqual(['jwks_uri', 'jwt', 'jwt']);
    const other = await s.hosted.agent.fetch(`${s.resource.url}/other`);
    expect(other.status).toBe(200);
    expect(s.resource.calls.map((c) => c.scheme)).toEqual(['jwks_uri', 'jwt', 'jwt', 'jwks_uri', 'jwt']);
    expect(s.as.tokenRequests).toHaveLength(1);
    expect(s.events.filter((e) => e.type === 'exchanged').map((e) => (e as { cached: boolean }).cached)).toEqual([false, true]);
  });

  it('renews a token 30 s before it expires (injected clock)', async () => {
    let t = 1_800_000_000;
    const now = () => t;
    // The renewal margin itself, without refresh (refresh of expiring tokens: refresh.test.ts).
    const s = await track(scenario({ as: { now }, resource: { now }, agent: { now, refresh: false } }));
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    t += 200; // 100 s left: reused
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(s.as.tokenRequests).toHaveLength(1);
    t += 80; // 20 s left: renewed, and the stale token is not even tried
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(200);
    expect(s.as.tokenRequests).toHaveLength(2);
    expect(s.resource.calls.map((c) => c.scheme)).toEqual(['jwks_uri', 'jwt', 'jwt', 'jwks_uri', 'jwt']);
    expect(s.resource.calls[4]!.token!.iat).toBe(t);
  });

  it('a 401 on a request that carried a cached token evicts it and exchanges once more', async () => {
    const s = await track(scenario());
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    s.resource.revoked.add(String(s.resource.calls[1]!.token!.jti));
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(200);
    expect(s.as.tokenRequests).toHaveLength(2);
    expect(s.resource.calls.map((c) => c.status)).toEqual([401, 200, 401, 200]);
    expect(s.resource.calls[3]!.rawToken).not.toBe(s.resource.calls[2]!.rawToken);
  });

  it('invalidate(resource) and flush() forget cached tokens', async () => {
    const s = await track(scenario());
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    s.hosted.agent.invalidate(s.resource.url);
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(s.as.tokenRequests).toHaveLength(2);
    s.hosted.agent.flush();
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(s.as.tokenRequests).toHaveLength(3);
  });

  describe('bodies arrive byte-identical after the retry', () => {
    it('JSON body', async () => {
      const s = await track(scenario());
      const payload = JSON.stringify({ order: 42, items: ['a', 'ü', '🚀'], nested: { deep: true } });
      const res = await s.hosted.agent.fetch(`${s.resource.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
      expect(res.status).toBe(200);
      const expected = Buffer.from(payload, 'utf8');
      expect(s.resource.calls.map((c) => c.body.equals(expected))).toEqual([true, true]);
      expect(s.resource.calls.map((c) => c.contentType)).toEqual(['application/json', 'application/json']);
    });

    it('ReadableStream body (binary, several chunks)', async () => {
      const s = await track(scenario());
      const chunks = [randomBytes(70_000), randomBytes(1), randomBytes(130_000)];
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const c of chunks) controller.enqueue(new Uint8Array(c));
          controller.close();
        },
      });
      const res = await s.hosted.agent.fetch(`${s.resource.url}/upload`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: stream });
      expect(res.status).toBe(200);
      const expected = Buffer.concat(chunks);
      expect(s.resource.calls).toHaveLength(2);
      for (const call of s.resource.calls) expect(call.body.equals(expected)).toBe(true);
      expect((await json(res)).bodyLength).toBe(expected.length);
    });

    it("a Node Readable or async iterable body with the caller's duplex: 'half', as Node's fetch takes it", async () => {
      // Found by a client audit: the caller's duplex was dropped, so the agent refused these bodies
      // with undici's "duplex option is required" although the caller had given it.
      const s = await track(scenario());
      const chunks = [randomBytes(40_000), randomBytes(3)];
      const expected = Buffer.concat(chunks);
      const bodies = [Readable.from(chunks), (async function* () { yield* chunks; })()];
      for (const body of bodies) {
        const res = await s.hosted.agent.fetch(`${s.resource.url}/upload`, { method: 'POST', body: body as unknown as RequestInit['body'], duplex: 'half' } as RequestInit);
        expect(res.status).toBe(200);
        expect((await json(res)).bodyLength).toBe(expected.length);
      }
      expect(s.resource.calls.map((c) => c.body.equals(expected))).toEqual([true, true, true]);
    });

    it('URLSearchParams, Blob, Uint8Array and a Request object', async () => {
      const s = await track(scenario());
      const form = new URLSearchParams({ a: '1', b: 'two words' });
      await s.hosted.agent.fetch(`${s.resource.url}/form`, { method: 'POST', body: form });
      expect(s.resource.calls[0]!.contentType).toBe('application/x-www-form-urlencoded;charset=UTF-8');
      expect(s.resource.calls[1]!.body.toString()).toBe('a=1&b=two+words');

      const bytes = new Uint8Array(randomBytes(1000));
      await s.hosted.agent.fetch(`${s.resource.url}/bytes`, { method: 'POST', body: new Blob([bytes], { type: 'image/png' }) });
      expect(s.resource.calls[2]!.contentType).toBe('image/png');
      expect(Buffer.from(bytes).equals(s.resource.calls[2]!.body)).toBe(true);

      s.hosted.agent.flush();
      const request = new Request(`${s.resource.url}/req`, { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: 'from a Request' });
      const res = await s.hosted.agent.fetch(request);
      expect(res.status).toBe(200);
      const patched = s.resource.calls.filter((c) => c.path === '/req');
      expect(patched.map((c) => [c.method, c.body.toString()])).toEqual([
        ['PATCH', 'from a Request'],
        ['PATCH', 'from a Request'],
      ]);
    });

    it('init.signal null means no signal, as for fetch (not the Request\'s own); absent, the Request\'s signal holds', async () => {
      const s = await track(scenario());
      const aborted = AbortSignal.abort(new Error('the Request was aborted'));
      const request = new Request(`${s.resource.url}/data`, { signal: aborted });
      await expect(s.hosted.agent.fetch(request)).rejects.toThrow('the Request was aborted');
      const res = await s.hosted.agent.fetch(request, { signal: null });
      expect(res.status).toBe(200);
    });

    it('refuses a body larger than maxBodyBytes before sending anything', async () => {
      const s = await track(scenario({ agent: { maxBodyBytes: 1000 } }));
      const error = await caught(s.hosted.agent.fetch(`${s.resource.url}/x`, { method: 'POST', body: new Uint8Array(1001) }));
      // Thrown by the agent, a table 4xx becomes 502: the app's caller must see a failed downstream call.
      expect(error).toMatchObject({ code: 'body_too_large', status: 502 });
      expect(s.resource.calls).toHaveLength(0);
    });
  });

  describe('challenges the agent must not follow make no request to the auth server', () => {
    it('an untrusted auth server (named by header and aud) is never contacted', async () => {
      const counting = await track(countingServer());
      const s = await track(scenario({ resource: { tamper: { challengeAuthServer: counting.origin, aud: counting.origin } } }));
      const error = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
      expect(error).toBeInstanceOf(AAuthChallengeError);
      const e = error as AAuthChallengeError;
      expect(e.code).toBe('auth_server_untrusted');
      expect(e.challenge?.authServer).toBe(counting.origin);
      expect(e.response.status).toBe(401);
      expect(e.message).not.toContain(e.challenge!.resourceToken!);
      expect(counting.count()).toBe(0);
      expect(s.as.requests).toEqual([]);
      expect(s.resource.calls).toHaveLength(1);
      expect(s.events.at(-1)).toMatchObject({ type: 'failed', code: 'auth_server_untrusted' });
    });

    it('a resource token with another agent_jkt is refused without contacting the (trusted) auth server', async () => {
      const s = await track(scenario({ resource: { tamper: { agentJkt: generateKey().thumbprint } } }));
      const error = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
      expect(error).toMatchObject({ code: 'resource_token_not_for_agent' });
      expect(error).toBeInstanceOf(AAuthChallengeError);
      expect(s.as.requests).toEqual([]);
    });

    it('a challenge without a resource token has its own code', async () => {
      const s = await track(scenario({ resource: { tamper: { omitResourceToken: true } } }));
      const error = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
      expect(error).toMatchObject({ code: 'challenge_missing_resource_token' });
      expect(s.as.requests).toEqual([]);
    });

    it('a pseudonymous agent facing require=identity gets challenge_unsatisfiable', async () => {
      const counting = await track(countingServer());
      const server = await track(
        (await import('../../../test/fixtures/http.js')).listen((_req, res) => {
          res.writeHead(401, { AAuth: 'require=identity', 'content-type': 'application/json' }).end('{"error":"identity_required"}');
        }),
      );
      const agent = createAgent({ key: generateKey(), authServer: counting.origin });
      const error = await caught(agent.fetch(`${server.origin}/x`));
      expect(error).toMatchObject({ code: 'challenge_unsatisfiable' });
      expect(counting.count()).toBe(0);
    });
  });

  describe('auth server refusals say which error and why', () => {
    for (const [status, error, description] of [
      [403, 'access_denied', 'Agent is blocked by realm policy'],
      [400, 'invalid_grant', 'Resource token audience mismatch'],
      [401, 'invalid_signature', 'Signature does not verify'],
    ] as const) {
      it(`${status} ${error}`, async () => {
        const s = await track(scenario({ as: { mode: { kind: 'refuse', status, error, error_description: description } } }));
        const e = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
        expect(isAAuthError(e, 'auth_server_error')).toBe(true);
        const err = e as { message: string; details: Record<string, unknown> };
        expect(err.details).toEqual({ status, error, error_description: description });
        expect(err.message).toContain(error);
        expect(err.message).toContain(description);
        expect(s.resource.calls).toHaveLength(1);
      });
    }

    it('token-shaped text in an error description is redacted', async () => {
      const s = await track(scenario({ as: { mode: { kind: 'refuse', status: 400, error: 'invalid_grant', error_description: 'bad token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4eXoifQ.c2lnbmF0dXJlMTIz' } } }));
      const e = (await caught(s.hosted.agent.fetch(`${s.resource.url}/data`))) as Error;
      expect(e.message).toContain('[redacted]');
      expect(e.message).not.toContain('eyJzdWIiOiJ4eXoifQ');
    });
  });

  describe('redirects are followed like fetch, re-signed for each hop', () => {
    it('307 keeps method and body; the challenge and retry happen at the new location', async () => {
      const s = await track(scenario({ resource: { redirects: { '/old': [307, '/new'] } } }));
      const res = await s.hosted.agent.fetch(`${s.resource.url}/old`, { method: 'POST', body: 'payload' });
      expect(res.status).toBe(200);
      expect(s.resource.calls.map((c) => [c.path, c.status, c.body.toString()])).toEqual([
        ['/old', 307, 'payload'],
        ['/new', 401, 'payload'],
        ['/new', 200, 'payload'],
      ]);
    });

    it('303 becomes a bodiless GET; redirect "manual" hands back the 3xx', async () => {
      const s = await track(scenario({ resource: { redirects: { '/form': [303, '/result'] }, level: 'identity' } }));
      const res = await s.hosted.agent.fetch(`${s.resource.url}/form`, { method: 'POST', body: 'x=1' });
      expect(res.status).toBe(200);
      expect(s.resource.calls.map((c) => [c.method, c.path, c.body.length])).toEqual([
        ['POST', '/form', 3],
        ['GET', '/result', 0],
      ]);
      const manual = await s.hosted.agent.fetch(`${s.resource.url}/form`, { method: 'POST', body: 'x=1', redirect: 'manual' });
      expect(manual.status).toBe(303);
      expect(manual.headers.get('location')).toBe('/result');
      // As fetch: a response reached through a redirect says so, one answered directly does not.
      expect(res.redirected).toBe(true);
      expect(res.url).toBe(`${s.resource.url}/result`);
      expect(manual.redirected).toBe(false);
    });

    it('a redirect to anything but http(s) is refused as fetch refuses it (a data: URL would answer for the resource)', async () => {
      const s = await track(scenario({ resource: { redirects: { '/data-url': [302, 'data:application/json,{"forged":true}'], '/ftp': [302, 'ftp://127.0.0.1/x'] }, level: 'identity' } }));
      for (const path of ['/data-url', '/ftp']) {
        const e = await s.hosted.agent.fetch(`${s.resource.url}${path}`).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(TypeError);
        expect((e as Error).message).toMatch(/redirected to a (data|ftp): URL; only http and https are followed$/);
      }
    });
  });

  it('events never carry a token', async () => {
    const s = await track(scenario());
    const backendKey = generateKey();
    const upstream = await s.as.issue({ aud: s.hosted.identity, sub: 'alice', scope: 'data.read', cnf: backendKey.jwk });
    await s.hosted.agent.fetch(`${s.resource.url}/data?secret=1`, { upstreamToken: upstream });
    const text = JSON.stringify(s.events);
    expect(s.events.length).toBeGreaterThan(3);
    for (const token of [upstream, s.resource.calls[1]!.rawToken!, String(s.as.tokenRequests[0]!.body.resource_token)]) {
      expect(text).not.toContain(token.split('.')[1]);
    }
    expect(text).not.toContain('secret=1');
  });

  it('rejects bad per-call options with a TypeError naming them', async () => {
    const agent = createAgent({ key: generateKey() });
    await expect(agent.fetch('http://127.0.0.1:1/', { signatureScheme: 'jwks_uri' })).rejects.toThrow(/init.signatureScheme "jwks_uri" needs options.identity/);
    await expect(agent.fetch('http://127.0.0.1:1/', { signatureScheme: 'jwt' })).rejects.toThrow(/init.authToken/);
    await expect(agent.fetch('http://127.0.0.1:1/', { upstreamToken: '' })).rejects.toThrow(/init.upstreamToken/);
  });
});

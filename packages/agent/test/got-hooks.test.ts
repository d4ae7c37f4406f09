import { randomBytes } from 'node:crypto';
import { Readable, Stream } from 'node:stream';
import { generateKey } from '@aauth-kit/core';
import got, { RequestError } from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { AAuthChallengeError, createAgent } from '../src/index.js';
import { countingServer, listen, type Listening } from '../../../test/fixtures/http.js';
import { scenario, type Scenario } from './fixtures/scenario.js';

const open: Array<Scenario | Listening> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

async function setup(options: Parameters<typeof scenario>[0] = {}) {
  const s = await scenario(options);
  open.push(s);
  const client = s.hosted.agent.extendGot(got);
  return { s, client };
}

describe('got 14 hooks (issue 4: the same flows pass through got)', () => {
  it('plain call is signed with jwks_uri', async () => {
    const { s, client } = await setup({ resource: { level: 'identity' } });
    const body = await client.get(`${s.resource.url}/hello`).json<Record<string, unknown>>();
    expect(body).toMatchObject({ ok: true, scheme: 'jwks_uri' });
    expect(s.resource.calls).toHaveLength(1);
  });

  it('challenge -> token -> retry, with a JSON body sent intact both times', async () => {
    const { s, client } = await setup();
    const payload = { order: 7, note: 'ünïcode' };
    const res = await client.post(`${s.resource.url}/orders`, { json: payload });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ scheme: 'jwt', agent: s.hosted.identity });
    const expected = Buffer.from(JSON.stringify(payload));
    expect(s.resource.calls.map((c) => [c.scheme, c.status, c.body.equals(expected), c.contentType])).toEqual([
      ['jwks_uri', 401, true, 'application/json'],
      ['jwt', 200, true, 'application/json'],
    ]);
    expect(s.as.tokenRequests).toHaveLength(1);
  });

  it('maxBodyBytes holds for every got body, as for agent.fetch: string, Buffer, json and stream bodies over it are refused before sending', async () => {
    // Client audit: only stream and iterable bodies were bounded; string, Buffer and json went out.
    const { s, client } = await setup({ agent: { maxBodyBytes: 1000 } });
    const big = 'x'.repeat(1001);
    for (const options of [{ body: big }, { body: Buffer.from(big) }, { json: { big } }, { body: Readable.from([Buffer.from(big)]) }]) {
      const error = await client.post(`${s.resource.url}/orders`, options).then(() => undefined, (e: unknown) => e);
      expect(error, Object.keys(options)[0]).toBeInstanceOf(RequestError);
      expect(error).toMatchObject({ code: 'body_too_large' });
    }
    expect(s.resource.calls).toHaveLength(0);
    // At the bound: sent.
    expect((await client.post(`${s.resource.url}/orders`, { body: 'y'.repeat(1000) })).statusCode).toBe(200);
  });

  it('a stream body is read once and resent byte-identical on the retry', async () => {
    const { s, client } = await setup();
    const chunks = [randomBytes(50_000), randomBytes(90_000)];
    const res = await client.put(`${s.resource.url}/upload`, { body: Readable.from(chunks), headers: { 'content-type': 'application/octet-stream' } });
    expect(res.statusCode).toBe(200);
    const expected = Buffer.concat(chunks);
    expect(s.resource.calls.map((c) => c.body.equals(expected))).toEqual([true, true]);
  });

  it('a stream without async iteration (the form-data package\'s FormData) is read, signed and resent', async () => {
    // Found by a client audit: got takes any Node stream (form-data's FormData is a legacy
    // CombinedStream), but the hooks read only async iterables and refused it as "options.body of
    // this type cannot be signed".
    const { s, client } = await setup();
    class LegacyStream extends Stream {
      readable = true;
      destroy(): void {
        this.readable = false;
      }
      override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
        const piped = super.pipe(destination, options);
        setImmediate(() => {
          this.emit('data', Buffer.from('--b\r\npart-1\r\n'));
          this.emit('data', Buffer.from('--b--\r\n'));
          this.emit('end');
        });
        return piped;
      }
    }
    const res = await client.post(`${s.resource.url}/upload`, { body: new LegacyStream() as unknown as Readable, headers: { 'content-type': 'multipart/form-data; boundary=b' } });
    expect(res.statusCode).toBe(200);
    const expected = Buffer.from('--b\r\npart-1\r\n--b--\r\n');
    expect(s.resource.calls.map((c) => [c.status, c.body.equals(expected)])).toEqual([
      [401, true],
      [200, true],
    ]);
  });

  it('got.stream: a bodiless stream is signed; a body written into the stream is refused with the fix (it would go out unsigned)', async () => {
    const { s, client } = await setup({ resource: { level: 'identity' } });
    const chunks: Buffer[] = [];
    for await (const chunk of client.stream(`${s.resource.url}/hello`)) chunks.push(chunk as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toMatchObject({ ok: true, scheme: 'jwks_uri' });
    const piped = client.stream.post(`${s.resource.url}/orders`);
    const failed = new Promise<Error>((resolve) => piped.on('error', resolve));
    piped.end('{"n":1}');
    const e = await failed;
    expect(e.message).toMatch(/got\.stream POST: a body written into the stream cannot be signed .*give it as options\.body/);
    // A DELETE stream without a body (got.stream.delete(url).end()) is a bodiless request, signed (client audit: it was refused).
    const deleted: Buffer[] = [];
    const del = client.stream.delete(`${s.resource.url}/hello`);
    del.end();
    for await (const chunk of del) deleted.push(chunk as Buffer);
    expect(s.resource.calls.at(-1)).toMatchObject({ method: 'DELETE', scheme: 'jwks_uri' });
    // Given as options.body, it is signed with its digest.
    const given: Buffer[] = [];
    for await (const chunk of client.stream.post(`${s.resource.url}/orders`, { body: '{"n":2}', headers: { 'content-type': 'application/json' } })) given.push(chunk as Buffer);
    expect(s.resource.calls.at(-1)!.body.toString()).toBe('{"n":2}');
    expect(s.resource.calls.at(-1)!.status).toBe(200);
  });

  it('exchange: context.aauth.upstreamToken goes to the token endpoint', async () => {
    const { s, client } = await setup();
    const upstream = await s.as.issue({ aud: s.hosted.identity, agent: 'http://backend.localhost:9', sub: 'bob', scope: 'data.read', cnf: generateKey().jwk });
    const body = await client.get(`${s.resource.url}/data`, { context: { aauth: { upstreamToken: upstream } } }).json<Record<string, unknown>>();
    expect(body).toMatchObject({ sub: 'bob', act: { agent: 'http://backend.localhost:9' } });
    expect(s.as.tokenRequests[0]!.body.upstream_token).toBe(upstream);
  });

  it('never loops: an always-challenging resource is called exactly twice', async () => {
    const { s, client } = await setup({ resource: { alwaysChallenge: true } });
    const res = await client.get(`${s.resource.url}/data`, { throwHttpErrors: false });
    expect(res.statusCode).toBe(401);
    expect(s.resource.calls).toHaveLength(2);
    expect(s.as.tokenRequests).toHaveLength(1);
    // The same loop as agent.fetch: the same events, the refused retry reported as failed.
    expect(s.events.map((e) => e.type)).toEqual(['signed', 'challenged', 'exchanged', 'retried', 'signed', 'failed']);
    expect(s.events.at(-1)).toMatchObject({ type: 'failed', code: 'challenge_unsatisfiable' });
  });

  it('reuses the cached token and shares one exchange between concurrent calls', async () => {
    const { s, client } = await setup({ as: { delayMs: 100 } });
    const results = await Promise.all(Array.from({ length: 20 }, () => client.get(`${s.resource.url}/data`)));
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    expect(s.as.tokenRequests).toHaveLength(1);
    await client.get(`${s.resource.url}/data`);
    expect(s.resource.calls.at(-1)!.scheme).toBe('jwt');
    expect(s.resource.calls).toHaveLength(41);
  });

  it('an untrusted auth server is never contacted; the error keeps its AAuth code', async () => {
    const counting = await countingServer();
    open.push(counting);
    const { s, client } = await setup({ resource: { tamper: { challengeAuthServer: counting.origin, aud: counting.origin } } });
    const error = await client.get(`${s.resource.url}/data`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).code).toBe('auth_server_untrusted');
    const cause = (error as RequestError).cause as AAuthChallengeError;
    expect(cause).toBeInstanceOf(AAuthChallengeError);
    expect(cause.response.status).toBe(401);
    expect(await cause.response.json()).toMatchObject({ error: 'invalid_auth_token' });
    expect(counting.count()).toBe(0);
    expect(s.as.requests).toEqual([]);
  });

  it('a resource token for another key is refused without contacting the auth server', async () => {
    const { s, client } = await setup({ resource: { tamper: { agentJkt: generateKey().thumbprint } } });
    const error = await client.get(`${s.resource.url}/data`).catch((e: unknown) => e);
    expect((error as RequestError).code).toBe('resource_token_not_for_agent');
    expect(s.as.requests).toEqual([]);
  });

  it('202 -> interaction -> poll -> token through got', async () => {
    const sleeps: number[] = [];
    const { s, client } = await setup({
      as: { mode: { kind: 'interaction' } },
      agent: {
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        onInteraction: async (i) => {
          await fetch(i.url);
        },
      },
    });
    const res = await client.get(`${s.resource.url}/data`);
    expect(res.statusCode).toBe(200);
    expect(sleeps).toEqual([1000]);
    expect(s.as.polls).toHaveLength(1);
  });

  it('auth server refusals surface as auth_server_error with the server error', async () => {
    const { s, client } = await setup({ as: { mode: { kind: 'refuse', status: 403, error: 'access_denied', error_description: 'blocked' } } });
    const error = (await client.get(`${s.resource.url}/data`).catch((e: unknown) => e)) as RequestError;
    expect(error.code).toBe('auth_server_error');
    expect((error.cause as { details: unknown }).details).toEqual({ status: 403, error: 'access_denied', error_description: 'blocked' });
  });

  it('gotHooks() can be spread into got.extend directly, and an explicit authToken is presented', async () => {
    const { s } = await setup();
    const token = await s.as.issue({ aud: s.resource.url, agent: s.hosted.identity, scope: 'data.read', cnf: s.hosted.key.jwk });
    const client = got.extend({ hooks: s.hosted.agent.gotHooks() });
    const body = await client.get(`${s.resource.url}/data`, { context: { aauth: { authToken: token } } }).json<Record<string, unknown>>();
    expect(body).toMatchObject({ scheme: 'jwt' });
    expect(s.resource.calls).toHaveLength(1);
    expect(s.as.tokenRequests).toHaveLength(0);
  });

  it('a cookie list goes out as got sends it, one cookie field joined with "; "', async () => {
    // Found by a client audit: the hooks replaced got's headers with ", "-joined strings, so
    // cookie: ['a=1', 'b=2'] arrived as the single cookie a="1, b=2" (plain got sends a=1; b=2).
    const cookies: Array<string | undefined> = [];
    const server = await listen((req, res) => {
      cookies.push(req.headers.cookie);
      res.end('ok');
    });
    open.push(server);
    const client = createAgent({ key: generateKey() }).extendGot(got);
    const headers = { cookie: ['a=1', 'b=2'] };
    await got.get(`${server.origin}/x`, { headers });
    await client.get(`${server.origin}/x`, { headers });
    expect(cookies).toEqual(['a=1; b=2', 'a=1; b=2']);
  });
});

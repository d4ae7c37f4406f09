import { AAuthChallengeError, createAgent } from '@aauth-kit/agent';
import { buildChallenge, generateKey, signJwt } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import got from 'got';
import { describe, expect, it } from 'vitest';
import { caught } from './fixtures/caught.js';
import { listen, type Listening } from './fixtures/http.js';
import { hostedAgent } from './fixtures/hosted-agent.js';
import { createTestAuthServer } from './fixtures/fake-auth-server.js';
import { trackClosables } from './fixtures/track.js';

// Issue 11, item 3: when the agent cannot answer a challenge, its error says what the resource said.
// The real express resource refuses to verify the agent (clock, key, metadata), so its challenge
// carries no resource token; the reason is in the body and in Signature-Error.

const track = trackClosables();

/** The real resource middleware with an auth-token route, sending Signature-Error (section 11). */
async function realResource(): Promise<{ url: string; issuer: string }> {
  const as = await track(createTestAuthServer());
  const app = express();
  const listening = await track(listen(app));
  const resource = createResource({ identity: listening.origin, key: generateKey(), authServer: as.issuer, requirementHeader: true });
  app.use(resource.wellKnown());
  app.get('/data', resource.require({ scope: 'data.read' }), (_req, res) => res.json({ ok: true }));
  return { url: listening.origin, issuer: as.issuer };
}

async function refusal(p: Promise<unknown>): Promise<AAuthChallengeError> {
  const error = await caught(p);
  expect(error).toBeInstanceOf(AAuthChallengeError);
  return error as AAuthChallengeError;
}

describe('a challenge the agent cannot answer carries the resource reason (real express resource)', () => {
  it('a clock 2 minutes ahead: the message says invalid_signature, created in the future', async () => {
    const r = await realResource();
    const hosted = await track(hostedAgent({ authServer: r.issuer, now: () => Date.now() / 1000 + 120 }));
    const e = await refusal(hosted.agent.fetch(`${r.url}/data`));
    expect(e.code).toBe('challenge_missing_resource_token');
    expect(e.message).toMatch(/^The auth-token challenge carries no resource token; the resource answered 401 invalid_signature: The signature was created 1[12]\d s in the future \(Signature-Error: error=invalid_signature\)$/);
    expect(e.resourceError).toBe('invalid_signature');
    expect(e.resourceErrorDescription).toMatch(/^The signature was created \d+ s in the future$/);
    expect(e.signatureError).toBe('error=invalid_signature');
    expect(e.details).toMatchObject({ status: 401, error: 'invalid_signature', signature_error: 'error=invalid_signature' });
    // The response is kept, its body readable again, and the body is on the error as text.
    expect(e.response.status).toBe(401);
    expect(e.response.headers.get('aauth')).toMatch(/^require=auth-token/);
    expect(await e.response.json()).toEqual({ error: 'invalid_signature', error_description: e.resourceErrorDescription });
    expect(JSON.parse(e.body!)).toEqual({ error: 'invalid_signature', error_description: e.resourceErrorDescription });
    // For the app that made the call, a downstream call failed.
    expect(e.status).toBe(502);
  });

  it('an agent key missing from its JWKS: the message names the kid the resource could not find', async () => {
    const r = await realResource();
    const hosted = await track(hostedAgent({ authServer: r.issuer }));
    // Same identity, another key: the identity's /jwks.json does not publish it.
    const stray = createAgent({ identity: hosted.identity, key: generateKey({ kid: 'not-published' }), authServer: r.issuer });
    const e = await refusal(stray.fetch(`${r.url}/data`));
    expect(e.code).toBe('challenge_missing_resource_token');
    expect(e.message).toContain('the resource answered 401 invalid_signature: ');
    expect(e.message).toContain('"not-published"');
    expect(e.message).toContain('(Signature-Error: error=invalid_signature)');
    expect(e.resourceErrorDescription).toContain('"not-published"');
  });

  it('agent metadata that is not served: the message says the key could not be fetched', async () => {
    const r = await realResource();
    // The identity answers, but with 404 for everything: no aauth-agent.json.
    const bare = await track(listen((_req, res) => void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page')));
    const agent = createAgent({ identity: bare.origin, key: generateKey(), authServer: r.issuer });
    const e = await refusal(agent.fetch(`${r.url}/data`));
    expect(e.code).toBe('challenge_missing_resource_token');
    expect(e.message).toContain('the resource answered 401 invalid_signature: ');
    expect(e.message).toContain(`${bare.origin}/.well-known/aauth-agent`);
    expect(e.resourceError).toBe('invalid_signature');
  });

  it('through got the same reason reaches the RequestError cause', async () => {
    const r = await realResource();
    const hosted = await track(hostedAgent({ authServer: r.issuer, now: () => Date.now() / 1000 + 120 }));
    const error = (await caught(hosted.agent.extendGot(got).get(`${r.url}/data`, { retry: { limit: 0 } }))) as { code: string; cause: unknown };
    expect(error.code).toBe('challenge_missing_resource_token');
    const cause = error.cause as AAuthChallengeError;
    expect(cause).toBeInstanceOf(AAuthChallengeError);
    expect(cause.message).toMatch(/the resource answered 401 invalid_signature: The signature was created \d+ s in the future/);
    expect(cause.resourceError).toBe('invalid_signature');
    expect(JSON.parse(cause.body!)).toMatchObject({ error: 'invalid_signature' });
  });
});

describe('reading a refusal body is bounded (a hostile resource)', () => {
  const challenge = { AAuth: 'require=auth-token; auth-server="http://127.0.0.1:1"', 'content-type': 'application/json' };

  it('a huge body: at most 64 KiB is read and kept', async () => {
    let bytesSent = 0;
    const server: Listening = await track(
      listen((_req, res) => {
        res.writeHead(401, challenge);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        // Up to 8 MiB, written as the client reads; the agent must stop long before.
        const pump = (): void => {
          while (bytesSent < 8 * 1024 * 1024) {
            bytesSent += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        res.on('error', () => undefined);
        pump();
      }),
    );
    const agent = createAgent({ key: generateKey(), authServer: 'http://127.0.0.1:1' });
    const e = await refusal(agent.fetch(`${server.origin}/x`));
    expect(e.code).toBe('challenge_missing_resource_token');
    expect(e.body!.length).toBe(64 * 1024);
    expect((await e.response.arrayBuffer()).byteLength).toBe(64 * 1024);
    // Not JSON: the message shows the start of the text, capped.
    expect(e.message).toMatch(/the resource answered 401 x{1000}\.\.\.$/);
  });

  it('a body that never ends: the agent gives up waiting and throws with what arrived', async () => {
    const server = await track(
      listen((_req, res) => {
        res.writeHead(401, challenge);
        res.write('{"error":"invalid_signature","error_description":"slow');
        // ...and never another byte, never the end.
      }),
    );
    const agent = createAgent({ key: generateKey(), authServer: 'http://127.0.0.1:1' });
    const e = await refusal(agent.fetch(`${server.origin}/x`));
    expect(e.code).toBe('challenge_missing_resource_token');
    expect(e.body).toBe('{"error":"invalid_signature","error_description":"slow');
    expect(e.message).toContain('the resource answered 401 {"error":"invalid_signature"');
  });

  it('token-shaped text in the resource reason is redacted', async () => {
    const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4eXoifQ.c2lnbmF0dXJlMTIz';
    const server = await track(
      listen((_req, res) => {
        res.writeHead(401, { ...challenge, 'signature-error': `error=invalid_signature; token="${jwt}"` });
        res.end(JSON.stringify({ error: 'invalid_signature', error_description: `bad ${jwt}` }));
      }),
    );
    const agent = createAgent({ key: generateKey(), authServer: 'http://127.0.0.1:1' });
    const e = await refusal(agent.fetch(`${server.origin}/x`));
    expect(e.message).toContain('invalid_signature: bad [redacted]');
    expect(e.message).not.toContain('eyJzdWIiOiJ4eXoifQ');
    expect(e.signatureError).toBe('error=invalid_signature; token="[redacted]"');
  });
});

describe('a refused challenge is a 5xx error for the app that made the call (issue 11, item 5)', () => {
  it('a code that is 4xx for servers (token_typ_invalid) is thrown with status 502', async () => {
    const key = generateKey();
    const agent = createAgent({ key, authServer: 'http://127.0.0.1:1' });
    // A challenge whose "resource token" is an auth token: the agent must not take it anywhere.
    const wrong = await signJwt(generateKey(), { typ: 'auth+jwt' }, { iss: 'http://127.0.0.1:2', aud: 'http://127.0.0.1:1', exp: 4_000_000_000 });
    const server = await track(
      listen((_req, res) => {
        res.writeHead(401, { AAuth: buildChallenge({ require: 'auth-token', resourceToken: wrong, authServer: 'http://127.0.0.1:1' }), 'content-type': 'application/json' });
        res.end('{"error":"invalid_auth_token","error_description":"Authorization required"}');
      }),
    );
    const e = await refusal(agent.fetch(`${server.origin}/x`));
    expect([e.code, e.status, e.statusCode, e.error]).toEqual(['token_typ_invalid', 502, 502, 'server_error']);
    expect(e.message).toMatch(/not resource\+jwt; the resource answered 401 invalid_auth_token: Authorization required$/);
  });
});

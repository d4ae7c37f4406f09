import { request } from 'node:http';
import { createAgent } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { callId, createTelemetry } from '@aauth-kit/core/internal';
import { createResource } from '@aauth-kit/express';
import { SpanKind, trace } from '@opentelemetry/api';
import express, { type RequestHandler } from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer } from '@aauth-kit/auth-server';
import { startAuthServer, testRealm } from './fixtures/auth-server.js';
import { hostedAgent } from './fixtures/hosted-agent.js';
import { listen } from './fixtures/http.js';
import { otlpTracing } from './fixtures/otlp-receiver.js';

// The resource's `aauth.verify` and the auth server's `aauth.token_issue` spans (issue 19,
// docs/telemetry.md) through the real SDK and OTLP/HTTP exporter to a receiver on loopback.

let tracing: Awaited<ReturnType<typeof otlpTracing>>;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  tracing = await otlpTracing();
});
afterAll(async () => {
  await tracing.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  tracing.receiver.spans.length = 0;
});

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/;

/** An express resource on loopback; `before` runs ahead of the guard (an HTTP instrumentation's stand-in). */
async function resourceApp(options: { authServer?: string; telemetry?: { enabled?: boolean; recordSubject?: boolean }; maxBodyBytes?: number; before?: RequestHandler } = {}) {
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: 'r-1' }),
    ...(options.authServer ? { authServer: options.authServer } : {}),
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  app.use(resource.wellKnown());
  if (options.before) app.use(options.before);
  app.all('/open', resource.require({ level: 'signature' }), (req, res) => void res.json({ agent: req.aauth!.agent }));
  if (options.authServer) app.get('/data', resource.require({ scope: 'data.read' }), (req, res) => void res.json({ agent: req.aauth!.agent }));
  return { url: listening.origin };
}

describe('resource spans (@aauth-kit/express)', () => {
  it('challenge, token issuance, retry: aauth.verify under the agent call, aauth.token_issue under its token request, call_id equal on both ends', async () => {
    const as = await startAuthServer();
    open.push(as);
    const hosted = await hostedAgent({ authServer: as.issuer });
    open.push(hosted);
    const r = await resourceApp({ authServer: as.issuer });
    const { spans } = await tracing.traced(async () => {
      expect((await hosted.agent.fetch(`${r.url}/data?q=secret`)).status).toBe(200);
    });
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const call = spans.find((s) => s.name === 'aauth.call')!;
    const request = spans.find((s) => s.name === 'aauth.token_request')!;
    const verify = spans.filter((s) => s.name === 'aauth.verify');
    const issue = spans.filter((s) => s.name === 'aauth.token_issue');
    const signed = (parent: string) => spans.filter((s) => s.name === 'aauth.sign' && s.parentSpanId === parent).map((s) => s.attributes['aauth.call_id']);

    expect(verify.map((v) => [v.parentSpanId === call.spanId, v.kind, v.scope, v.attributes['aauth.outcome']])).toEqual([
      [true, 2, '@aauth-kit/express', 'challenged'],
      [true, 2, '@aauth-kit/express', 'verified'],
    ]);
    expect(verify.map((v) => v.attributes['aauth.call_id'])).toEqual(signed(call.spanId));
    expect(verify[0]!.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.full': `${r.url}/data`,
      'aauth.resource': r.url,
      'aauth.generation': 'keycloak',
      'aauth.scheme': 'jwks_uri',
      'aauth.error_code': 'auth_token_required',
      'http.response.status_code': 401,
      'aauth.agent': hosted.identity,
    });
    expect(verify[0]!.status.code).toBe(0); // a challenge is no error
    const challenge = verify[0]!.events.find((e) => e.name === 'aauth.challenge')!;
    expect(challenge.attributes).toMatchObject({ 'aauth.require': 'auth-token', 'aauth.auth_server': as.issuer, 'aauth.scope': 'data.read' });
    expect(challenge.attributes['aauth.token.jti']).toEqual(expect.any(String));
    expect(verify[1]!.attributes).toMatchObject({ 'aauth.scheme': 'jwt', 'aauth.agent': hosted.identity, 'aauth.scope': 'data.read', 'aauth.token.jti': request.attributes['aauth.token.jti'] });

    // Key discovery under each party's span: the verifier's first sight of the agent under the first
    // aauth.verify, the auth server's under aauth.token_issue, the agent's view of its auth server
    // under its own spans (docs/telemetry.md, "Key discovery").
    const discovery = spans.filter((s) => s.name === 'aauth.discovery');
    const under = (parent: string | undefined) => discovery.filter((d) => d.parentSpanId === parent).map((d) => d.attributes['url.full']);
    expect(under(verify[0]!.spanId)).toEqual([`${hosted.identity}/.well-known/aauth-agent.json`, `${hosted.identity}/jwks.json`]);
    expect(under(request.spanId)).toEqual([`${as.issuer}/.well-known/aauth-issuer.json`]);
    expect(under(issue[0]!.spanId).sort()).toEqual(
      [`${hosted.identity}/.well-known/aauth-agent.json`, `${hosted.identity}/jwks.json`, `${r.url}/.well-known/aauth-resource.json`, `${r.url}/jwks.json`].sort(),
    );
    expect(under(verify[1]!.spanId)[0]).toBe(`${as.issuer}/.well-known/aauth-issuer.json`);
    expect(under(verify[1]!.spanId)).toHaveLength(2);
    expect(discovery).toHaveLength(9);
    expect(new Set(discovery.map((d) => d.scope))).toEqual(new Set(['@aauth-kit/discovery']));
    expect(issue).toHaveLength(1);
    expect(byId.get(issue[0]!.parentSpanId)).toBe(request);
    expect(issue[0]!.scope).toBe('@aauth-kit/auth-server');
    expect(issue[0]!.attributes).toMatchObject({
      'aauth.endpoint': 'token',
      'aauth.generation': 'keycloak',
      'aauth.outcome': 'issued',
      'aauth.policy.decision': 'allow',
      'aauth.agent': hosted.identity,
      'aauth.resource': r.url,
      'aauth.scope.requested': 'data.read',
      'aauth.scope': 'data.read',
      'aauth.chain': hosted.identity,
      'aauth.token.jti': request.attributes['aauth.token.jti'],
      'aauth.call_id': request.attributes['aauth.call_id'],
      'http.response.status_code': 200,
    });
    for (const span of spans) {
      expect(Object.keys(span.attributes)).not.toContain('aauth.subject');
      for (const value of [...Object.values(span.attributes), ...span.events.flatMap((e) => Object.values(e.attributes))]) {
        expect(String(value)).not.toMatch(JWT_LIKE);
        expect(String(value)).not.toContain('secret');
      }
    }
  });

  it('continues the traceparent it receives; a refusal that is no challenge is an error with its code', async () => {
    const r = await resourceApp({ maxBodyBytes: 16 });
    // A signature header, so the body is read (an unsigned request is refused, 401, before its body).
    const res = await fetch(`${r.url}/open`, { method: 'POST', headers: { traceparent: `00-${TRACE}-${PARENT}-01`, 'content-type': 'text/plain', signature: 'sig=:AA==:' }, body: 'x'.repeat(100) });
    expect(res.status).toBe(413);
    await tracing.traced(async () => undefined); // flushes
    const verify = tracing.receiver.spans.find((s) => s.name === 'aauth.verify' && s.traceId === TRACE)!;
    expect(verify.parentSpanId).toBe(PARENT);
    expect(verify.attributes).toMatchObject({ 'aauth.outcome': 'refused', 'aauth.error_code': 'body_too_large', 'http.response.status_code': 413 });
    expect(verify.status.code).toBe(2);
  });

  it("under the application's HTTP server span (instrumentation): a child of it, not of the traceparent", async () => {
    let ended: Promise<void> | undefined;
    const before: RequestHandler = (_req, res, next) =>
      trace.getTracer('http-instrumentation').startActiveSpan('POST /open', { kind: SpanKind.SERVER }, (span) => {
        ended = new Promise((resolve) => res.on('finish', () => resolve(span.end())));
        next();
      });
    const r = await resourceApp({ before });
    const agent = createAgent({ key: generateKey() });
    const res = await fetch(`${r.url}/open`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, ...agent.buildSignedRequest({ method: 'GET', url: `${r.url}/open` }).headers } });
    expect(res.status).toBe(200);
    await ended;
    await tracing.traced(async () => undefined); // flushes
    const server = tracing.receiver.spans.find((s) => s.name === 'POST /open')!;
    const verify = tracing.receiver.spans.find((s) => s.name === 'aauth.verify')!;
    expect(verify.parentSpanId).toBe(server.spanId);
    expect(verify.traceId).not.toBe(TRACE);
    expect(verify.attributes).toMatchObject({ 'aauth.outcome': 'verified', 'aauth.scheme': 'hwk', 'aauth.agent': `pseudonymous:${agent.key.thumbprint}` });
  });

  it('telemetry.enabled false: no span; an unknown telemetry option is refused', async () => {
    const r = await resourceApp({ telemetry: { enabled: false } });
    const agent = createAgent({ key: generateKey() });
    const { spans } = await tracing.traced(async () => {
      expect((await agent.fetch(`${r.url}/open`)).status).toBe(200);
    });
    expect(spans.map((s) => s.name)).not.toContain('aauth.verify');
    expect(spans.map((s) => s.name)).toContain('aauth.call');
    expect(() => createResource({ identity: 'http://127.0.0.1:1', key: generateKey(), telemetry: { sample: true } as never })).toThrow('options.telemetry.sample is not an option');
  });

  it("the auth server's url.full is its baseUrl's origin and the path, never the Host header the client sent", async () => {
    const as = await startAuthServer();
    open.push(as);
    const issuer = new URL(as.issuer);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: issuer.hostname, port: issuer.port, method: 'POST', path: `${issuer.pathname}/protocol/aauth/token?q=1`, headers: { host: 'forged.example:9', 'content-type': 'application/json', traceparent: `00-${TRACE}-${PARENT}-01` } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(401);
    await tracing.traced(async () => undefined); // flushes
    const issue = tracing.receiver.spans.find((s) => s.name === 'aauth.token_issue' && s.traceId === TRACE)!;
    expect(issue.attributes).toMatchObject({ 'url.full': `${as.issuer}/protocol/aauth/token`, 'aauth.outcome': 'refused', 'http.response.status_code': 401 });
  });

  it('live(): true with an SDK registered, false when disabled', () => {
    expect(createTelemetry('x', '1').live()).toBe(true);
    expect(createTelemetry('x', '1', { enabled: false }).live()).toBe(false);
  });
});

/**
 * An agent publishing its documents on loopback, recording the `traceparent` each document request
 * carried; `jwksQuery` appends a query string to the `jwks_uri` its metadata names.
 */
async function recordingAgent(options: { jwksStatus?: number; jwksQuery?: string } = {}) {
  const key = generateKey({ kid: 'traced-1' });
  const app = express();
  const seen: Array<{ path: string; traceparent: string | undefined }> = [];
  app.use((req, res, next) => {
    seen.push({ path: req.path, traceparent: req.headers.traceparent as string | undefined });
    if (options.jwksStatus !== undefined && req.path === '/jwks.json') return void res.status(options.jwksStatus).json({ error: 'down' });
    if (options.jwksQuery !== undefined && req.path === '/.well-known/aauth-agent.json') {
      return void res.json({ agent: listening.origin, jwks_uri: `${listening.origin}/jwks.json?${options.jwksQuery}` });
    }
    next();
  });
  const listening = await listen(app);
  open.push(listening);
  const agent = createAgent({ identity: listening.origin, key });
  app.use(agent.wellKnown());
  return { identity: listening.origin, agent, seen };
}

describe('key discovery spans (@aauth-kit/discovery)', () => {
  it("a new agent's metadata and JWKS: one aauth.discovery client span each, children of aauth.verify, their requests carrying its traceparent", async () => {
    const r = await resourceApp();
    const a = await recordingAgent();
    const { spans } = await tracing.traced(async () => {
      expect((await a.agent.fetch(`${r.url}/open`)).status).toBe(200);
      // The keys are cached now: a second request fetches nothing, so it is no span.
      expect((await a.agent.fetch(`${r.url}/open`)).status).toBe(200);
    });
    const verify = spans.filter((s) => s.name === 'aauth.verify');
    expect(verify).toHaveLength(2);
    const discovery = spans.filter((s) => s.name === 'aauth.discovery');
    expect(discovery.map((d) => [d.parentSpanId, d.traceId, d.kind, d.scope, d.status.code])).toEqual([
      [verify[0]!.spanId, verify[0]!.traceId, 3, '@aauth-kit/discovery', 0],
      [verify[0]!.spanId, verify[0]!.traceId, 3, '@aauth-kit/discovery', 0],
    ]);
    expect(discovery.map((d) => d.attributes)).toEqual([
      expect.objectContaining({ 'http.request.method': 'GET', 'url.full': `${a.identity}/.well-known/aauth-agent.json`, 'server.address': '127.0.0.1', 'http.response.status_code': 200, 'aauth.discovery.document': 'agent metadata' }),
      expect.objectContaining({ 'url.full': `${a.identity}/jwks.json`, 'http.response.status_code': 200, 'aauth.discovery.document': expect.stringContaining('JWKS') }),
    ]);
    // The agent's server saw each fetch as a child of its discovery span, in the verification's trace.
    const fetched = a.seen.filter((s) => s.path !== '/open');
    expect(fetched.map((f) => f.path)).toEqual(['/.well-known/aauth-agent.json', '/jwks.json']);
    expect(fetched.map((f) => f.traceparent)).toEqual(discovery.map((d) => `00-${d.traceId}-${d.spanId}-01`));
  });

  it('a jwks_uri with a query string: the span records origin + path only', async () => {
    const r = await resourceApp();
    const a = await recordingAgent({ jwksQuery: 'v=1&secret=hunter2' });
    const { spans } = await tracing.traced(async () => {
      expect((await a.agent.fetch(`${r.url}/open`)).status).toBe(200);
    });
    const urls = spans.filter((s) => s.name === 'aauth.discovery').map((s) => s.attributes['url.full']);
    expect(urls).toEqual([`${a.identity}/.well-known/aauth-agent.json`, `${a.identity}/jwks.json`]);
    expect(JSON.stringify(spans)).not.toContain('hunter2');
  });

  it('a failed fetch: the span is an error with the refusal code and the status; telemetry.enabled false: no span and no traceparent', async () => {
    const r = await resourceApp();
    const a = await recordingAgent({ jwksStatus: 500 });
    const { spans } = await tracing.traced(async () => {
      // The signing key could not be fetched: 401 key_discovery_failed.
      expect((await a.agent.fetch(`${r.url}/open`)).status).toBe(401);
    });
    const failed = spans.find((s) => s.name === 'aauth.discovery' && s.attributes['url.full'] === `${a.identity}/jwks.json`)!;
    expect(failed.status.code).toBe(2);
    expect(failed.attributes).toMatchObject({ 'http.response.status_code': 500, 'aauth.error_code': 'key_discovery_failed' });

    const quiet = await resourceApp({ telemetry: { enabled: false } });
    const b = await recordingAgent();
    const traced = await tracing.traced(async () => {
      expect((await b.agent.fetch(`${quiet.url}/open`)).status).toBe(200);
    });
    expect(traced.spans.map((s) => s.name)).not.toContain('aauth.discovery');
    expect(b.seen.filter((s) => s.path !== '/open').map((s) => s.traceparent)).toEqual([undefined, undefined]);
  });
});

describe('auth server spans (@aauth-kit/auth-server)', () => {
  it('a refused token request: aauth.token_issue under the caller, outcome refused, policy deny, the error code', async () => {
    const as = await startAuthServer();
    open.push(as);
    const res = await fetch(as.tokenEndpoint, {
      method: 'POST',
      headers: { traceparent: `00-${TRACE}-${PARENT}-01`, 'content-type': 'application/json', signature: 'sig=:AAAA:', 'signature-input': 'sig=();created=1', 'signature-key': 'sig=(scheme=hwk kty="OKP" crv="Ed25519" x="AAAA")' },
      body: '{}',
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    await tracing.traced(async () => undefined);
    const issue = tracing.receiver.spans.find((s) => s.name === 'aauth.token_issue' && s.traceId === TRACE)!;
    expect(issue.parentSpanId).toBe(PARENT);
    expect(issue.attributes).toMatchObject({ 'aauth.endpoint': 'token', 'aauth.outcome': 'refused', 'aauth.policy.decision': 'deny', 'aauth.call_id': callId('sig=:AAAA:'), 'http.response.status_code': res.status });
    expect(issue.attributes['aauth.error_code']).toBe(as.audit.at(-1)!.code);
    expect(issue.status.code).toBe(2);
  });

  it('an unknown telemetry option is refused', () => {
    expect(() => createAuthServer({ realm: testRealm(), baseUrl: 'http://127.0.0.1:1', onWarning: () => undefined, telemetry: { sample: true } as never })).toThrow('options.telemetry.sample is not an option');
  });

  it('recordSubject: the issued token sub as aauth.subject', async () => {
    const as = await startAuthServer({ telemetry: { recordSubject: true } });
    open.push(as);
    const hosted = await hostedAgent({ authServer: as.issuer });
    open.push(hosted);
    const r = await resourceApp({ authServer: as.issuer, telemetry: { recordSubject: true } });
    const { spans } = await tracing.traced(async () => {
      expect((await hosted.agent.fetch(`${r.url}/data`)).status).toBe(200);
    });
    const issued = as.audit.find((e) => e.type === 'token.issued')!;
    expect(spans.find((s) => s.name === 'aauth.token_issue')!.attributes['aauth.subject']).toBe(issued.sub);
    expect(spans.filter((s) => s.name === 'aauth.verify').at(-1)!.attributes['aauth.subject']).toBe(issued.sub);
  });
});

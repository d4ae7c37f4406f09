import { generateKey } from '@aauth-kit/core';
import { callId } from '@aauth-kit/core/internal';
import { createVerifier } from '@aauth-kit/verifier';
import got from 'got';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, createTokenExchanger, type Interaction } from '../src/index.js';
import { scenario, type Scenario } from './fixtures/scenario.js';
import { listen } from '../../../test/fixtures/http.js';
import { otlpTracing } from '../../../test/fixtures/otlp-receiver.js';
import { caught } from '../../../test/fixtures/caught.js';

// The agent's spans (issue 19, docs/telemetry.md) through the real SDK and the real OTLP/HTTP
// exporter, to a receiver on loopback.

let tracing: Awaited<ReturnType<typeof otlpTracing>>;
const open: { close(): Promise<void> }[] = [];
const traced = (fn: () => Promise<unknown>) => tracing.traced(fn);

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

/** Every outgoing request's URL and headers, through a transport the agent is given. */
function recordingFetch() {
  const sent: { url: string; headers: Headers }[] = [];
  const transport: typeof fetch = (input, init) => {
    sent.push({ url: String(input), headers: new Headers(init?.headers) });
    return fetch(input, init);
  };
  return { sent, transport };
}

const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/;

describe('agent spans exported over OTLP/HTTP (issue 19)', () => {
  it('challenge -> token request -> retry: one trace, aauth.call under the app span, its signatures and token request under it', async () => {
    const { sent, transport } = recordingFetch();
    const s: Scenario = await scenario({ agent: { fetch: transport } });
    open.push(s);
    const { root, spans } = await traced(async () => {
      const res = await s.hosted.agent.fetch(`${s.resource.url}/data?secret=1`);
      expect(res.status).toBe(200);
    });
    const byName = (name: string) => spans.filter((x) => x.name === name);
    const [call] = byName('aauth.call');
    const [request] = byName('aauth.token_request');
    expect(call).toBeDefined();
    expect(request).toBeDefined();
    expect(call!.parentSpanId).toBe(root.spanId);
    expect(call!.kind).toBe(3); // client
    expect(call!.scope).toBe('@aauth-kit/agent');
    expect(call!.scopeVersion).toBe('0.1.0');
    expect(request!.parentSpanId).toBe(call!.spanId);
    expect(request!.kind).toBe(3);
    // Three signatures: the first attempt and the retry (under the call), the token request (under it).
    const signs = byName('aauth.sign');
    expect(signs.map((x) => [x.parentSpanId === call!.spanId ? 'call' : x.parentSpanId === request!.spanId ? 'token_request' : '?', x.attributes['aauth.scheme']])).toEqual([
      ['call', 'jwks_uri'],
      ['token_request', 'jwks_uri'],
      ['call', 'jwt'],
    ]);

    expect(call!.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.full': `${s.resource.url}/data`,
      'server.address': '127.0.0.1',
      'aauth.agent': s.hosted.identity,
      'aauth.generation': 'keycloak',
      'aauth.resource': s.resource.url,
      'aauth.scheme': 'jwt',
      'http.response.status_code': 200,
    });
    expect(call!.events.map((e) => e.name)).toEqual(['aauth.challenge', 'aauth.token.issued', 'aauth.retry']);
    expect(call!.events[0]!.attributes).toMatchObject({ 'aauth.require': 'auth-token', 'aauth.auth_server': s.as.issuer, 'aauth.scope': 'data.read' });
    expect(request!.attributes).toMatchObject({
      'aauth.endpoint': 'token',
      'aauth.auth_server': s.as.issuer,
      'aauth.resource': s.resource.url,
      'aauth.scope': 'data.read',
      'aauth.outcome': 'issued',
      'http.response.status_code': 200,
      'url.full': `${s.as.issuer}/protocol/aauth/token`,
    });
    const resourceCalls = sent.filter((r) => r.url.startsWith(s.resource.url));
    const tokenCall = sent.find((r) => r.url.startsWith(s.as.issuer) && r.url.endsWith('/token'))!;
    // aauth.token.jti is the issued token's (the retry presents it), and no `sub` without recordSubject.
    const retryKey = resourceCalls[1]!.headers.get('signature-key')!;
    const issued = /jwt="([^"]+)"/.exec(retryKey)![1]!;
    const claims = JSON.parse(Buffer.from(issued.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
    expect(request!.attributes['aauth.token.jti']).toBe(claims.jti);
    expect(spans.some((x) => 'aauth.subject' in x.attributes)).toBe(false);

    // call_id: SHA-256 of the Signature header, per signed request (the call keeps its last one).
    expect(signs.map((x) => x.attributes['aauth.call_id'])).toEqual([
      callId(resourceCalls[0]!.headers.get('signature')!),
      callId(tokenCall.headers.get('signature')!),
      callId(resourceCalls[1]!.headers.get('signature')!),
    ]);
    expect(call!.attributes['aauth.call_id']).toBe(callId(resourceCalls[1]!.headers.get('signature')!));
    expect(request!.attributes['aauth.call_id']).toBe(callId(tokenCall.headers.get('signature')!));

    // W3C traceparent on every request: the resource's under aauth.call, the auth server's under aauth.token_request.
    expect(resourceCalls.map((r) => r.headers.get('traceparent'))).toEqual([`00-${call!.traceId}-${call!.spanId}-01`, `00-${call!.traceId}-${call!.spanId}-01`]);
    expect(tokenCall.headers.get('traceparent')).toBe(`00-${call!.traceId}-${request!.spanId}-01`);

    // Never a token, never the query.
    for (const span of spans) {
      for (const value of [...Object.values(span.attributes), ...span.events.flatMap((e) => Object.values(e.attributes))]) {
        expect(String(value)).not.toMatch(JWT_LIKE);
        expect(String(value)).not.toContain('secret=1');
      }
    }
  });

  it('records the raw sub only with telemetry.recordSubject', async () => {
    const s = await scenario({ agent: { telemetry: { recordSubject: true } } });
    open.push(s);
    const { spans } = await traced(async () => {
      expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    });
    expect(spans.find((x) => x.name === 'aauth.token_request')!.attributes['aauth.subject']).toBe('user-1');
  });

  it('202 polling: each poll an aauth.interaction.poll event of the token request, the count and final status as attributes', async () => {
    const interactions: Interaction[] = [];
    let polls = 0;
    const s = await scenario({
      as: { mode: { kind: 'interaction' } },
      agent: {
        sleep: async () => {
          if (++polls === 2) await fetch(interactions[0]!.url);
        },
        onInteraction: (i) => void interactions.push(i),
      },
    });
    open.push(s);
    const { spans } = await traced(async () => {
      expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    });
    const request = spans.find((x) => x.name === 'aauth.token_request')!;
    expect(request.events.map((e) => e.name)).toEqual(['aauth.interaction', 'aauth.interaction.poll', 'aauth.interaction.poll']);
    expect(request.attributes).toMatchObject({ 'aauth.interaction.polls': 2, 'aauth.interaction.status': 200, 'aauth.outcome': 'issued' });
    // The interaction URL and code stay out of the trace (they would let a reader approve).
    expect(JSON.stringify(spans)).not.toContain(interactions[0]!.code);
  });

  it('a refusal: the token request and the call end in error with aauth.error_code', async () => {
    const s = await scenario({ as: { mode: { kind: 'refuse', status: 403, error: 'access_denied', error_description: 'no' } } });
    open.push(s);
    let code: string | undefined;
    const { spans } = await traced(async () => {
      code = ((await caught(s.hosted.agent.fetch(`${s.resource.url}/data`))) as { code?: string }).code;
    });
    const request = spans.find((x) => x.name === 'aauth.token_request')!;
    const call = spans.find((x) => x.name === 'aauth.call')!;
    expect(code).toBeDefined();
    expect(request.status.code).toBe(2);
    expect(request.attributes).toMatchObject({ 'aauth.outcome': 'refused', 'http.response.status_code': 403 });
    expect(call.status.code).toBe(2);
    expect(call.attributes['aauth.error_code']).toBe(code);
  });

  it('telemetry.enabled false: no spans and no traceparent from the agent', async () => {
    const { sent, transport } = recordingFetch();
    const s = await scenario({ agent: { fetch: transport, telemetry: { enabled: false } } });
    open.push(s);
    const { spans } = await traced(async () => {
      expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    });
    expect(spans.map((x) => x.name)).toEqual(['app']);
    expect(sent.every((r) => !r.headers.has('traceparent'))).toBe(true);
  });
});

describe('got hooks', () => {
  it('one aauth.call span per got call, as agent.fetch: its signatures and token request under it, its traceparent on every hop', async () => {
    const s = await scenario();
    open.push(s);
    const traceparents: (string | undefined)[] = [];
    const client = s.hosted.agent.extendGot(got).extend({
      hooks: { beforeRequest: [(options) => void traceparents.push(options.headers.traceparent as string | undefined)] },
    });
    const { root, spans } = await traced(async () => {
      expect((await client.get(`${s.resource.url}/data?secret=1`)).statusCode).toBe(200);
    });
    // The application's span is left as it was.
    expect(Object.keys(root.attributes).filter((k) => k.startsWith('aauth.'))).toEqual([]);
    expect(root.events).toEqual([]);
    const calls = spans.filter((x) => x.name === 'aauth.call');
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.parentSpanId).toBe(root.spanId);
    expect(call.kind).toBe(3); // client
    expect(call.scope).toBe('@aauth-kit/agent');
    expect(call.status.code).not.toBe(2);
    expect(call.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'aauth.generation': 'keycloak',
      'http.response.status_code': 200,
    });
    // The query is not recorded (it may carry secrets), as for agent.fetch.
    expect(String(call.attributes['url.full'])).not.toContain('secret');
    const signs = spans.filter((x) => x.name === 'aauth.sign' && x.parentSpanId === call.spanId);
    expect(signs.map((x) => x.attributes['aauth.scheme'])).toEqual(['jwks_uri', 'jwt']);
    expect(spans.filter((x) => x.name === 'aauth.sign' && x.parentSpanId === root.spanId)).toEqual([]);
    expect(traceparents).toEqual([`00-${root.traceId}-${call.spanId}-01`, `00-${root.traceId}-${call.spanId}-01`]);
    expect(spans.find((x) => x.name === 'aauth.token_request')!.parentSpanId).toBe(call.spanId);
  });

  it('a refused got call ends its span in error with the aauth.error_code of the error got throws', async () => {
    const s = await scenario({ as: { mode: { kind: 'refuse', status: 403, error: 'access_denied', error_description: 'no' } } });
    open.push(s);
    const client = s.hosted.agent.extendGot(got);
    let code: string | undefined;
    const { root, spans } = await traced(async () => {
      code = ((await caught(client.get(`${s.resource.url}/data`))) as { code?: string }).code;
    });
    expect(code).toBeDefined();
    const call = spans.find((x) => x.name === 'aauth.call')!;
    expect(call.parentSpanId).toBe(root.spanId);
    expect(call.status.code).toBe(2);
    expect(call.attributes['aauth.error_code']).toBe(code);
    const request = spans.find((x) => x.name === 'aauth.token_request')!;
    expect(request.parentSpanId).toBe(call.spanId);
    expect(request.attributes).toMatchObject({ 'aauth.outcome': 'refused', 'http.response.status_code': 403 });
  });

  it('a got call that fails on the network ends its span in error (beforeError), once', async () => {
    const s = await scenario();
    open.push(s);
    // A port that was just free: the connection is refused.
    const gone = await listen((_req, res) => res.end());
    const url = `${gone.origin}/data`;
    await gone.close();
    const client = s.hosted.agent.extendGot(got).extend({ retry: { limit: 0 } });
    let error: { code?: string } | undefined;
    const { root, spans } = await traced(async () => {
      error = (await caught(client.get(url))) as { code?: string };
    });
    expect(error?.code).toBe('ECONNREFUSED');
    const calls = spans.filter((x) => x.name === 'aauth.call');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.parentSpanId).toBe(root.spanId);
    expect(calls[0]!.status.code).toBe(2);
    expect(calls[0]!.attributes['http.response.status_code']).toBeUndefined();
  });

  it('a got call with an answer got turns into an error (404): the span has the status and is not failed by the hooks', async () => {
    const s = await scenario();
    open.push(s);
    const missing = await listen((_req, res) => res.writeHead(404).end('no such thing'));
    open.push(missing);
    const client = s.hosted.agent.extendGot(got);
    const { spans } = await traced(async () => {
      expect(((await caught(client.get(`${missing.origin}/nothing`))) as { response?: { statusCode: number } }).response?.statusCode).toBe(404);
    });
    const calls = spans.filter((x) => x.name === 'aauth.call');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.attributes['http.response.status_code']).toBe(404);
    // An answer is not an error of the call (as for agent.fetch); got's HTTPError does not fail it again.
    expect(calls[0]!.status.code).not.toBe(2);
  });
});

describe('RFC 8693 token exchanger spans', () => {
  it('exchanger.fetch: aauth.call (bearer) with an aauth.token_request (rfc8693) child, traceparent on the exchange and the downstream call', async () => {
    const tokenEndpoint = 'https://as.example.com/realms/acme/protocol/openid-connect/token';
    const sent: { url: string; headers: Headers }[] = [];
    const transport: typeof fetch = async (input, init) => {
      sent.push({ url: String(input), headers: new Headers(init?.headers) });
      if (String(input) !== tokenEndpoint) return fetch(input, init);
      return Response.json({ access_token: 'opaque-1', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 300 });
    };
    const api = await listen((_req, res) => res.end('ok'));
    open.push(api);
    const exchanger = createTokenExchanger({
      targets: { crm: { tokenEndpoint, clientId: 'agent', auth: { method: 'client_secret_basic', clientSecret: 'secret' }, audience: 'crm', scope: 'crm:read' } },
      subjectTokenProvider: () => 'user-token',
      fetch: transport,
    });
    const { root, spans } = await traced(async () => {
      expect((await exchanger.fetch('crm', `${api.origin}/x`)).status).toBe(200);
    });
    const call = spans.find((x) => x.name === 'aauth.call')!;
    const request = spans.find((x) => x.name === 'aauth.token_request')!;
    expect(call.parentSpanId).toBe(root.spanId);
    expect(call.attributes).toMatchObject({ 'aauth.scheme': 'bearer', 'url.full': `${api.origin}/x`, 'http.response.status_code': 200 });
    expect(request.parentSpanId).toBe(call.spanId);
    expect(request.attributes).toMatchObject({ 'aauth.endpoint': 'rfc8693', 'url.full': tokenEndpoint, 'aauth.scope': 'crm:read', 'aauth.outcome': 'issued' });
    expect(sent.map((r) => r.headers.get('traceparent'))).toEqual([`00-${root.traceId}-${request.spanId}-01`, `00-${root.traceId}-${call.spanId}-01`]);
    expect(JSON.stringify(spans)).not.toContain('opaque-1');
  });
});

describe('traceparent is not a covered component (docs/telemetry.md)', () => {
  it('one trace id from the agent to a resource that echoes it; a proxy that rewrites traceparent and adds tracestate leaves the signature valid', async () => {
    let verifier: ReturnType<typeof createVerifier> | undefined;
    const seen: { traceparent: string | undefined; agent: string }[] = [];
    const resource = await listen((req, res) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      verifier!
        .verify({ method: req.method!, url: `${resourceUrl}${req.url}`, headers })
        .then((who) => {
          seen.push({ traceparent: headers.traceparent, agent: who.agent });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ traceparent: headers.traceparent ?? null, tracestate: headers.tracestate ?? null }));
        })
        .catch((error: { code?: string }) => res.writeHead(401).end(error.code ?? 'refused'));
    });
    open.push(resource);
    const resourceUrl = resource.origin;
    verifier = createVerifier({ identity: resourceUrl, trustedIssuers: [] });
    const agent = createAgent({ key: generateKey() });
    const rewritten = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const proxy: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('traceparent', rewritten);
      headers.set('tracestate', 'proxy=1');
      return fetch(input, { ...init, headers });
    };
    const proxied = createAgent({ key: generateKey(), fetch: proxy });

    let direct: { traceparent: string; tracestate: string | null } | undefined;
    let viaProxy: { traceparent: string; tracestate: string | null } | undefined;
    const { root, spans } = await traced(async () => {
      const res = await agent.fetch(`${resourceUrl}/echo`);
      expect(res.status).toBe(200);
      direct = (await res.json()) as typeof direct;
      const res2 = await proxied.fetch(`${resourceUrl}/echo`);
      expect(res2.status).toBe(200);
      viaProxy = (await res2.json()) as typeof viaProxy;
    });
    const calls = spans.filter((x) => x.name === 'aauth.call');
    expect(calls).toHaveLength(2);
    // The resource got the agent's trace id: the call span is the parent it would continue from.
    expect(direct!.traceparent).toBe(`00-${root.traceId}-${calls[0]!.spanId}-01`);
    expect(direct!.tracestate).toBeNull();
    // Rewritten on the way, and still verified (the kit's verifier, hwk agent).
    expect(viaProxy).toEqual({ traceparent: rewritten, tracestate: 'proxy=1' });
    expect(seen.map((x) => x.agent)).toEqual([`pseudonymous:${agent.key.thumbprint}`, `pseudonymous:${proxied.key.thumbprint}`]);
  });
});

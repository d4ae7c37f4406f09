import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { otlpTracesUrl } from '../src/telemetry.js';
import { otlpReceiver, type ReceivedSpan } from '../../../test/fixtures/otlp-receiver.js';

// Issue 19's acceptance test: one demo run with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a receiver
// on loopback exports ONE trace through the real SDK and OTLP/HTTP exporter: backend ->
// supply-chain agent -> auth server -> market-analysis agent, each span under the right service,
// the resource and auth-server spans children of the agent's calls, call_id equal on both ends.

const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/;

async function demoTrace(protocol: 'keycloak' | 'draft-11'): Promise<{ spans: ReceivedSpan[]; out: string }> {
  const receiver = await otlpReceiver();
  try {
    const out: string[] = [];
    const err: string[] = [];
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url.replace(/\/v1\/traces$/, '') };
    const code = await runCli(['--json', '--protocol', protocol], { out: (t) => out.push(t), err: (t) => err.push(t), env });
    expect(err.join('')).not.toContain('OTLP export failed');
    expect(code).toBe(0);
    return { spans: [...receiver.spans], out: out.join('') };
  } finally {
    await receiver.close();
  }
}

function check(spans: ReceivedSpan[], out: string, protocol: 'keycloak' | 'draft-11'): void {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const parent = (s: ReceivedSpan) => byId.get(s.parentSpanId);
  const where = (service: string, name: string) => spans.filter((s) => s.service === service && s.name === name);
  /** The call_ids an agent's call (or token request) signed: its own `aauth.sign` children. */
  const signedBy = (s: ReceivedSpan) => spans.filter((x) => x.name === 'aauth.sign' && x.parentSpanId === s.spanId).map((x) => x.attributes['aauth.call_id']);

  // ONE trace, one root: the demo's span, in the backend.
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
  const roots = spans.filter((s) => s.parentSpanId === '');
  expect(roots.map((s) => [s.name, s.service])).toEqual([['supply-chain demo', 'backend']]);
  expect(spans.every((s) => s.parentSpanId === '' || byId.has(s.parentSpanId))).toBe(true);
  expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['backend', 'supply-chain-agent', 'auth-server', 'market-analysis-agent']));

  // backend -> SCA: every SCA verification is a server span under the backend's aauth.call, with
  // the call_id the backend signed; the first is the 401 challenge, the last is verified.
  const [backendCall] = where('backend', 'aauth.call');
  expect(backendCall!.parentSpanId).toBe(roots[0]!.spanId);
  const scaVerify = where('supply-chain-agent', 'aauth.verify');
  expect(scaVerify.length).toBeGreaterThanOrEqual(2);
  for (const v of scaVerify) {
    expect(v.kind).toBe(2); // server
    expect(v.scope).toBe('@aauth-kit/express');
    expect(parent(v)).toBe(backendCall);
    expect(signedBy(backendCall!)).toContain(v.attributes['aauth.call_id']);
    expect(v.attributes['aauth.generation']).toBe(protocol);
  }
  const challenged = scaVerify.find((v) => v.attributes['aauth.error_code'] === 'auth_token_required')!;
  expect(challenged.attributes).toMatchObject({ 'aauth.outcome': 'challenged', 'http.response.status_code': 401 });
  const challenge = challenged.events.find((e) => e.name === 'aauth.challenge')!;
  expect(challenge.attributes).toMatchObject({ 'aauth.require': 'auth-token', 'aauth.scope': 'supply-chain:optimize market-analysis:analyze' });
  expect(challenge.attributes['aauth.token.jti']).toEqual(expect.any(String)); // the resource token's jti
  const scaVerified = scaVerify.at(-1)!;
  expect(scaVerified.attributes).toMatchObject({ 'aauth.outcome': 'verified', 'aauth.scheme': 'jwt', 'aauth.call_id': backendCall!.attributes['aauth.call_id'] });

  // The auth server: each issuance span is a server span under the agent's token request, same call_id.
  const issues = where('auth-server', 'aauth.token_issue');
  expect(issues.length).toBeGreaterThanOrEqual(2);
  for (const issue of issues) {
    const request = parent(issue)!;
    expect(request.name).toBe('aauth.token_request');
    expect(issue.kind).toBe(2);
    expect(signedBy(request)).toContain(issue.attributes['aauth.call_id']);
    expect(['issued', 'pending']).toContain(issue.attributes['aauth.outcome']);
    if (issue.attributes['aauth.outcome'] === 'issued') {
      expect(issue.attributes['aauth.policy.decision']).toBe('allow');
      expect(issue.attributes['aauth.token.jti']).toBe(request.attributes['aauth.token.jti']);
    }
  }
  // The token the backend presented to the SCA is the one the auth server issued (by jti).
  expect(issues.map((i) => i.attributes['aauth.token.jti'])).toContain(scaVerified.attributes['aauth.token.jti']);

  // SCA -> MAA: the SCA's call runs under its verified request; the MAA's spans under that call.
  const scaCalls = where('supply-chain-agent', 'aauth.call');
  expect(scaCalls).toHaveLength(1);
  expect(parent(scaCalls[0]!)).toBe(scaVerified);
  const scaIssue = issues.filter((i) => parent(parent(i)!) === scaCalls[0]);
  expect(scaIssue.at(-1)!.attributes).toMatchObject({ 'aauth.outcome': 'issued', 'aauth.scope': 'market-analysis:analyze' });
  const maaVerify = where('market-analysis-agent', 'aauth.verify');
  expect(maaVerify.length).toBeGreaterThanOrEqual(2);
  for (const v of maaVerify) {
    expect(parent(v)).toBe(scaCalls[0]);
    expect(signedBy(scaCalls[0]!)).toContain(v.attributes['aauth.call_id']);
  }
  expect(maaVerify.some((v) => v.attributes['aauth.outcome'] === 'challenged' && v.attributes['http.response.status_code'] === 401)).toBe(true);
  expect(maaVerify.at(-1)!.attributes).toMatchObject({ 'aauth.outcome': 'verified', 'aauth.scope': 'market-analysis:analyze', 'aauth.call_id': scaCalls[0]!.attributes['aauth.call_id'] });

  // Never a token, never a raw sub: the --json trace prints every token and claim the run saw.
  const tokens = out.match(new RegExp(JWT_LIKE.source, 'g')) ?? [];
  // Person subs (an agent token's sub is the agent's public identifier, `aauth:name@host`).
  const subs = [...out.matchAll(/"sub":"([^"]+)"/g)].map((m) => m[1]!).filter((sub) => !sub.startsWith('aauth:'));
  expect(tokens.length).toBeGreaterThan(0);
  expect(subs.length).toBeGreaterThan(0);
  for (const span of spans) {
    for (const value of [...Object.values(span.attributes), ...span.events.flatMap((e) => Object.values(e.attributes))]) {
      const text = String(value);
      expect(text).not.toMatch(JWT_LIKE);
      for (const sub of subs) expect(text).not.toContain(sub);
    }
    expect(Object.keys(span.attributes)).not.toContain('aauth.subject');
  }
}

describe('the demo exports one trace over OTLP/HTTP (issue 19)', () => {
  it('Keycloak profile: backend -> supply-chain agent -> auth server -> market-analysis agent', async () => {
    const { spans, out } = await demoTrace('keycloak');
    check(spans, out, 'keycloak');
  });

  it('AAuth -11: the same trace with person and auth tokens from the person server', async () => {
    const { spans, out } = await demoTrace('draft-11');
    check(spans, out, 'draft-11');
    const endpoints = spans.filter((s) => s.name === 'aauth.token_issue').map((s) => s.attributes['aauth.endpoint']);
    expect(endpoints).toEqual(expect.arrayContaining(['person', 'auth']));
  });

  it('exports to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else not at all', () => {
    expect(otlpTracesUrl({})).toBeUndefined();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBeUndefined();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318/' })).toBe('http://localhost:4318/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' })).toBe('http://b:4318/traces');
  });
});

import { computeThumbprint, decodeToken, type PublicJwk } from '@aauth-kit/core';
import type { AuditEvent } from '@aauth-kit/auth-server';
import { describe, expect, it } from 'vitest';
import { HELP, runCli } from '../src/cli.js';
import { runDemo, type DemoResult } from '../src/run-demo.js';
import type { Hop, TokenView } from '../src/trace.js';

// Issue 16: the supply-chain demo on AAuth -11 (docs/wire-profile-draft11.md), end to end over
// real loopback HTTP through the demo's own functions: the embedded auth server's person server,
// the backend and the supply-chain agent as their own agent providers, call chaining with
// upstream_token, and the market-analysis agent verifying the auth token and proof of possession.

const BOTH = 'supply-chain:optimize market-analysis:analyze';
/** A directed sub of the embedded person server: an HMAC, base64url, 43 characters. */
const DIRECTED = /^[A-Za-z0-9_-]{43}$/;

function hops(result: DemoResult): Hop[] {
  return result.entries.filter((e): e is { kind: 'hop' } & Hop => e.kind === 'hop');
}

function cnfThumbprint(view: TokenView): string {
  const { claims } = decodeToken(view.raw);
  return computeThumbprint((claims.cnf as { jwk: PublicJwk }).jwk);
}

describe('npm run demo -- --protocol draft-11 (three-party, scripted consent)', () => {
  it('person token, consent, auth token, chaining with upstream_token: the MAA verifies the auth token and its key', async () => {
    const audit: AuditEvent[] = [];
    const result = await runDemo({ protocol: 'draft-11', onAudit: (e) => audit.push(e) });
    expect(result.failure).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.protocol).toBe('draft-11');
    const { backend, 'supply-chain-agent': sca, 'market-analysis-agent': maa, 'auth-server': auth } = result.services;
    // The person server is the auth server's origin; the Keycloak-profile issuer lives under /realms.
    const ps = new URL(auth!.identity).origin;
    expect(auth!.identity).toBe(`${ps}/realms/aauth-test`);
    const h = hops(result);
    const between = (from: string, to: string, method = 'POST') => h.filter((x) => x.from === from && x.to === to && x.method === method);

    // backend -> SCA: agent token (401 person-token), person token (401 auth-token + resource token), auth token (200).
    const toSca = between('backend', 'supply-chain-agent');
    expect(toSca.map((x) => [x.status, x.scheme, x.presented?.typ, x.challenge?.require])).toEqual([
      [401, 'jwt', 'aa-agent+jwt', 'person-token'],
      [401, 'jwt', 'aa-person+jwt', 'auth-token'],
      [200, 'jwt', 'aa-auth+jwt', undefined],
    ]);
    expect(toSca[0]!.challenge?.header).toBe('AAuth-Requirement');
    const backendAgentToken = toSca[0]!.presented!;
    expect(backendAgentToken.claims).toMatchObject({ iss: backend!.identity, dwk: 'aauth-agent.json', sub: `aauth:backend@${new URL(backend!.identity).host}`, ps });
    // The resource token: from SCA, for the person server, naming the person and ps; no agent identifier.
    const rt = toSca[1]!.challenge!.resourceToken!;
    expect(rt.typ).toBe('aa-resource+jwt');
    expect(rt.claims).toMatchObject({ iss: sca!.identity, dwk: 'aauth-resource.json', aud: ps, ps, scope: BOTH });
    expect(rt.claims.agent).toBeUndefined();
    const scaSub = String(toSca[1]!.presented!.claims.sub);
    expect(scaSub).toMatch(DIRECTED);
    expect(rt.claims.sub).toBe(scaSub);

    // backend -> person server: two 202 interactions (the person token binds the agent to the user;
    // the auth token's scope needs consent), each finished by a signed poll.
    const backendPs = h.filter((x) => x.from === 'backend' && x.to === 'person-server' && !x.path.startsWith('/.well-known/'));
    expect(backendPs.map((x) => [x.method, x.path.replace(/\/pending\/.*$/, '/pending/…'), x.status, x.scheme])).toEqual([
      ['POST', '/aauth/person/person-token', 202, 'jwt'],
      ['GET', '/aauth/person/pending/…', 200, 'jwt'],
      ['POST', '/aauth/person/auth-token', 202, 'jwt'],
      ['GET', '/aauth/person/pending/…', 200, 'jwt'],
    ]);
    expect(backendPs[0]!.asked).toEqual(['resource', 'capabilities']);
    expect(backendPs[2]!.asked).toEqual(expect.arrayContaining(['resource_token']));
    expect(backendPs[2]!.asked).not.toContain('upstream_token');
    for (const i of [0, 2]) {
      expect(backendPs[i]!.challenge).toMatchObject({ require: 'interaction', header: 'AAuth-Requirement' });
      expect(backendPs[i]!.interaction?.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    }
    const notes = result.entries.filter((e) => e.kind === 'note').map((e) => (e as { text: string }).text);
    expect(notes.filter((t) => t.includes('signs in as mcp-user and approves'))).toHaveLength(2);
    expect(audit.filter((e) => e.type === 'consent.granted').map((e) => [e.username, e.resource])).toEqual([
      ['mcp-user', sca!.identity],
      ['mcp-user', sca!.identity],
    ]);
    expect(backendPs[1]!.issued?.typ).toBe('aa-person+jwt');
    expect(backendPs[1]!.issued!.claims).toMatchObject({ iss: ps, dwk: 'aauth-person.json', aud: sca!.identity, sub: scaSub });
    expect(backendPs[1]!.issued!.claims.scope).toBeUndefined();
    const backendAuth = backendPs[3]!.issued!;
    expect(backendAuth.typ).toBe('aa-auth+jwt');
    expect(backendAuth.claims).toEqual({ iss: ps, dwk: 'aauth-person.json', aud: sca!.identity, sub: scaSub, ps, scope: BOTH, exp: expect.any(Number) });
    expect(toSca[2]!.presented!.raw).toBe(backendAuth.raw);
    // The auth token is bound to the backend's key, the one its agent token vouches for.
    expect(cnfThumbprint(backendAuth)).toBe(cnfThumbprint(backendAgentToken));

    // SCA -> MAA, as its own agent (aauth:sca@host, its own provider), the same three steps, no person in the loop.
    const toMaa = between('supply-chain-agent', 'market-analysis-agent');
    expect(toMaa.map((x) => [x.status, x.presented?.typ, x.challenge?.require])).toEqual([
      [401, 'aa-agent+jwt', 'person-token'],
      [401, 'aa-person+jwt', 'auth-token'],
      [200, 'aa-auth+jwt', undefined],
    ]);
    const scaAgentToken = toMaa[0]!.presented!;
    expect(scaAgentToken.claims).toMatchObject({ iss: sca!.identity, sub: `aauth:sca@${new URL(sca!.identity).host}`, ps });
    // Chaining (profile section 8, item 7): the upstream token's aud is the iss of SCA's agent token.
    expect(backendAuth.claims.aud).toBe(scaAgentToken.claims.iss);
    const scaPs = h.filter((x) => x.from === 'supply-chain-agent' && x.to === 'person-server' && x.method === 'POST');
    expect(scaPs.map((x) => [x.path, x.status])).toEqual([
      ['/aauth/person/person-token', 200],
      ['/aauth/person/auth-token', 200],
    ]);
    for (const x of scaPs) expect(x.asked).toContain('upstream_token');
    const maaSub = String(scaPs[0]!.issued!.claims.sub);
    expect(maaSub).toMatch(DIRECTED);
    expect(maaSub).not.toBe(scaSub);
    expect(toMaa[1]!.challenge!.resourceToken!.claims).toMatchObject({ iss: maa!.identity, aud: ps, ps, sub: maaSub, scope: 'market-analysis:analyze' });
    // The scope narrows to what the MAA's resource token asks (AAuth -11 "Upstream Token Verification":
    // a subset is not required, the MAA's own requirement makes it one); the same person under the
    // MAA's own directed sub, never SCA's copied ("Directed Identifiers Across a Chain").
    const scaAuth = scaPs[1]!.issued!;
    expect(scaAuth.typ).toBe('aa-auth+jwt');
    expect(scaAuth.claims).toEqual({ iss: ps, dwk: 'aauth-person.json', aud: maa!.identity, sub: maaSub, ps, scope: 'market-analysis:analyze', exp: expect.any(Number) });
    expect(cnfThumbprint(scaAuth)).toBe(cnfThumbprint(scaAgentToken));
    expect(cnfThumbprint(scaAuth)).not.toBe(cnfThumbprint(backendAuth));

    // No -11 token carries act or agent (profile section 6).
    const views = h.flatMap((x) => [x.presented, x.issued, x.challenge?.resourceToken]).filter((v): v is TokenView => v !== undefined);
    expect(views.length).toBeGreaterThanOrEqual(16);
    for (const v of views) {
      expect(v.typ).toMatch(/^aa-(agent|person|resource|auth)\+jwt$/);
      expect(v.claims.act).toBeUndefined();
      expect(v.claims.agent).toBeUndefined();
    }

    // What the MAA's kit resource verified: the auth token from the person server, and the request
    // signed with the key in its cnf (the pseudonymous agent is that key's thumbprint).
    expect(result.maaSaw).toEqual({
      generation: 'draft-11',
      accessMode: 'auth-token',
      scheme: 'jwt',
      agent: `pseudonymous:${cnfThumbprint(scaAuth)}`,
      thumbprint: cnfThumbprint(scaAuth),
      sub: maaSub,
      ps,
      issuer: ps,
      scope: ['market-analysis:analyze'],
    });
    const body = result.result as { plan: Array<{ sku: string }>; for: string };
    expect(body.plan.map((p) => p.sku)).toEqual(['WIDGET-100', 'GADGET-7']);
    expect(body.for).toBe(scaSub);
  });
});

describe('refusals of the -11 run, reported at the hop that said them', () => {
  it('consent denied: the poll answers 403 denied, the backend gets interaction_denied, nothing reaches the MAA', async () => {
    const result = await runDemo({ protocol: 'draft-11', decision: 'deny' });
    expect(result.ok).toBe(false);
    expect(result.failure?.code).toBe('interaction_denied');
    const hop = result.failure!.hop!;
    expect([hop.from, hop.to, hop.method, hop.status, hop.error?.error]).toEqual(['backend', 'person-server', 'GET', 403, 'denied']);
    expect(hop.path).toMatch(/^\/aauth\/person\/pending\//);
    expect(result.failure!.reason).toMatch(/^backend → person-server GET \/aauth\/person\/pending\/\S+ answered 403 denied: /);
    expect(result.entries.some((e) => e.kind === 'note' && e.text.includes('signs in as mcp-user and denies'))).toBe(true);
    expect(hops(result).filter((x) => x.to === 'market-analysis-agent')).toEqual([]);
    expect(result.maaSaw).toBeUndefined();
  });

  it('expired interaction: nobody answers, the pending request lapses, the poll answers 408 expired', async () => {
    const result = await runDemo({ protocol: 'draft-11', decision: 'ignore', pendingLifetime: 1 });
    expect(result.ok).toBe(false);
    expect(result.failure?.code).toBe('interaction_expired');
    const hop = result.failure!.hop!;
    expect([hop.from, hop.to, hop.method, hop.status, hop.error?.error]).toEqual(['backend', 'person-server', 'GET', 408, 'expired']);
    expect(result.failure!.reason).toContain('answered 408 expired');
    expect(result.entries.some((e) => e.kind === 'note' && e.text.includes('never does'))).toBe(true);
  });
});

describe('the demo command line (cli.ts, what dist/demo.js runs)', () => {
  function capture(): { out: string[]; err: string[]; io: Parameters<typeof runCli>[1] } {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (t) => out.push(t), err: (t) => err.push(t), env: {} } };
  }

  it('--help names --protocol and its values', async () => {
    const c = capture();
    expect(await runCli(['--help'], c.io)).toBe(0);
    expect(c.out.join('')).toBe(`${HELP}\n`);
    expect(HELP).toContain('--protocol P');
    expect(HELP).toMatch(/keycloak \(default\)/);
    expect(HELP).toContain('draft-11');
    expect(HELP).toContain('--four-party');
    expect(HELP).toContain('ACCESS_SERVER_PORT');
  });

  it('refuses an unknown protocol with exit code 2, naming the choices', async () => {
    const c = capture();
    expect(await runCli(['--protocol', 'draft-10'], c.io)).toBe(2);
    expect(c.err.join('')).toBe('demo: --protocol must be one of keycloak, draft-11 (got "draft-10")\n');
  });

  it('refuses --four-party without --protocol draft-11, exit 2', async () => {
    const c = capture();
    expect(await runCli(['--four-party'], c.io)).toBe(2);
    expect(c.err.join('')).toBe('demo: --four-party needs --protocol draft-11 (the Keycloak profile has no access server)\n');
    await expect(runDemo({ fourParty: true })).rejects.toThrow("options.fourParty needs options.protocol 'draft-11'");
  });

  it('--protocol draft-11 prints a trace naming the -11 tokens and a SUCCESS line, exit 0', async () => {
    const c = capture();
    expect(await runCli(['--protocol', 'draft-11'], c.io)).toBe(0);
    const text = c.out.join('');
    expect(text).toContain('aauth-kit supply-chain demo on AAuth -11');
    expect(text).toMatch(/backend → supply-chain-agent: POST \/optimize \[jwt\]\n {6}presents agent token \(aa-agent\+jwt\) /);
    expect(text).toContain('← 401 AAuth-Requirement: requirement=person-token');
    expect(text).toContain('← 202 AAuth-Requirement: requirement=interaction interaction code');
    expect(text).toMatch(/person token \(aa-person\+jwt\) \S+ {2}iss=person-server sub=[\w-]{43} aud=supply-chain-agent\n/);
    expect(text).toMatch(/resource token \(aa-resource\+jwt\) \S+ {2}iss=supply-chain-agent sub=[\w-]{43} aud=person-server scope="supply-chain:optimize market-analysis:analyze" ps=person-server/);
    expect(text).toMatch(/supply-chain-agent → person-server: POST \/aauth\/person\/auth-token \{[^}]*upstream_token[^}]*\} \[jwt\]/);
    expect(text).toMatch(/auth token \(aa-auth\+jwt\) \S+ {2}iss=person-server sub=[\w-]{43} aud=market-analysis-agent scope="market-analysis:analyze" ps=person-server/);
    expect(text).not.toContain('act=');
    expect(text).toMatch(/market-analysis agent saw: person \(person-server, sub [\w-]{43}\), scope market-analysis:analyze, from an auth-token issued by person-server, whose cnf key signed the request \(pseudonymous:[\w-]{43}\)\n/);
    expect(text).toContain('SUCCESS on AAuth -11');
    expect(c.err.join('')).toBe('');
  });

  it('--protocol keycloak is the default flow, named explicitly: exchanged tokens with act, exit 0', async () => {
    const c = capture();
    expect(await runCli(['--protocol', 'keycloak'], c.io)).toBe(0);
    const text = c.out.join('');
    expect(text).toContain('aauth-kit supply-chain demo: backend');
    expect(text).toContain('backend → supply-chain-agent: POST /optimize [jwks_uri]');
    expect(text).toContain('{resource_token, upstream_token}');
    expect(text).toMatch(/act=\{agent: backend, sub: /);
    expect(text).not.toContain('AAuth-Requirement');
    expect(text).toContain('SUCCESS: the user');
  });

  it('--protocol draft-11 --json: one JSON object per hop, the result last with protocol draft-11', async () => {
    const c = capture();
    expect(await runCli(['--protocol', 'draft-11', '--json'], c.io)).toBe(0);
    const lines = c.out.join('').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; ok?: boolean; protocol?: string; issued?: TokenView });
    expect(lines.at(-1)).toMatchObject({ kind: 'result', ok: true, protocol: 'draft-11' });
    const issued = lines.map((l) => l.issued?.typ).filter((t) => t !== undefined);
    expect(issued).toEqual(['aa-person+jwt', 'aa-auth+jwt', 'aa-person+jwt', 'aa-auth+jwt']);
  });
});

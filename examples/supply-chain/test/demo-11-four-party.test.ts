import { computeThumbprint, decodeToken, type PublicJwk } from '@aauth-kit/core';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { runDemo, type DemoResult } from '../src/run-demo.js';
import type { Hop, TokenView } from '../src/trace.js';

// Issue 16: `npm run demo -- --protocol draft-11 --four-party`. The market-analysis agent sits behind
// a separate access server (a second embedded auth server, access role only, from the same realm
// file); its resource tokens are addressed there, and the person server federates the SCA's auth
// token request to it, signed as itself (profile section 8, item 5). Needs the access server role
// of the embedded auth server (helper A's branch wip/i16-access).

function hops(result: DemoResult): Hop[] {
  return result.entries.filter((e): e is { kind: 'hop' } & Hop => e.kind === 'hop');
}

const cnfThumbprint = (view: TokenView) => computeThumbprint((decodeToken(view.raw).claims.cnf as { jwk: PublicJwk }).jwk);

describe('the -11 demo, four-party', () => {
  it('the backend leg stays three-party; the chained MAA leg is federated to the access server, whose token the MAA accepts', async () => {
    const result = await runDemo({ protocol: 'draft-11', fourParty: true });
    expect(result.failure).toBeUndefined();
    expect(result.ok).toBe(true);
    const { 'auth-server': auth, 'access-server': access, 'market-analysis-agent': maa, 'supply-chain-agent': sca } = result.services;
    const ps = new URL(auth!.identity).origin;
    const as = new URL(access!.identity).origin;
    expect(as).not.toBe(ps);
    const h = hops(result);

    // The SCA's resource token comes from SCA for the person server (three-party), its auth token from the person server.
    const toSca = h.filter((x) => x.from === 'backend' && x.to === 'supply-chain-agent');
    expect(toSca[1]!.challenge!.resourceToken!.claims.aud).toBe(ps);
    expect(toSca[2]!.presented!.claims).toMatchObject({ iss: ps, dwk: 'aauth-person.json', aud: sca!.identity });

    // The MAA's resource token is addressed to the access server, ps still the person's server.
    const toMaa = h.filter((x) => x.from === 'supply-chain-agent' && x.to === 'market-analysis-agent');
    expect(toMaa.map((x) => [x.status, x.presented?.typ, x.challenge?.require])).toEqual([
      [401, 'aa-agent+jwt', 'person-token'],
      [401, 'aa-person+jwt', 'auth-token'],
      [200, 'aa-auth+jwt', undefined],
    ]);
    const rt = toMaa[1]!.challenge!.resourceToken!;
    expect(rt.claims).toMatchObject({ iss: maa!.identity, aud: as, ps, scope: 'market-analysis:analyze' });
    const maaSub = String(rt.claims.sub);

    // SCA asks its person server (the upstream token's ps) as in three-party ...
    const scaAuth = h.find((x) => x.from === 'supply-chain-agent' && x.to === 'person-server' && x.path === '/aauth/person/auth-token')!;
    expect(scaAuth.status).toBe(200);
    expect(scaAuth.asked).toEqual(expect.arrayContaining(['resource_token', 'upstream_token']));
    // ... which federates: a POST to the access server signed under its own key (jwks_uri), carrying the agent token.
    const federated = h.filter((x) => x.from === 'person-server');
    expect(federated.map((x) => [x.to, x.method, x.path, x.status, x.scheme])).toEqual([['access-server', 'POST', '/aauth/access/auth-token', 200, 'jwks_uri']]);
    expect(federated[0]!.asked).toEqual(expect.arrayContaining(['resource_token', 'agent_token', 'upstream_token']));
    expect(federated[0]!.n).toBeGreaterThan(scaAuth.n);
    const issued = federated[0]!.issued!;
    expect(issued.typ).toBe('aa-auth+jwt');
    expect(issued.claims).toEqual({ iss: as, dwk: 'aauth-access.json', aud: maa!.identity, sub: maaSub, ps, scope: 'market-analysis:analyze', exp: expect.any(Number) });
    // The person server hands the access server's token over as it is, bound to SCA's key.
    expect(scaAuth.issued!.raw).toBe(issued.raw);
    expect(toMaa[2]!.presented!.raw).toBe(issued.raw);
    expect(cnfThumbprint(issued)).toBe(cnfThumbprint(toMaa[0]!.presented!));

    expect(result.maaSaw).toMatchObject({
      generation: 'draft-11',
      accessMode: 'auth-token',
      issuer: as,
      ps,
      sub: maaSub,
      scope: ['market-analysis:analyze'],
      agent: `pseudonymous:${cnfThumbprint(issued)}`,
    });
  });

  it('the command line: --protocol draft-11 --four-party traces the federation hop and the access server token, exit 0', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['--protocol', 'draft-11', '--four-party'], { out: (t) => out.push(t), err: (t) => err.push(t), env: {} });
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    const text = out.join('');
    expect(text).toContain('aauth-kit supply-chain demo on AAuth -11, four-party');
    expect(text).toMatch(/person-server → access-server: POST \/aauth\/access\/auth-token \{[^}]*agent_token[^}]*\} \[jwks_uri\]/);
    expect(text).toMatch(/resource token \(aa-resource\+jwt\) \S+ {2}iss=market-analysis-agent sub=[\w-]{43} aud=access-server scope="market-analysis:analyze" ps=person-server/);
    expect(text).toMatch(/auth token \(aa-auth\+jwt\) \S+ {2}iss=access-server sub=[\w-]{43} aud=market-analysis-agent scope="market-analysis:analyze" ps=person-server/);
    expect(text).toContain('from an auth-token issued by access-server');
    expect(text).toContain('SUCCESS on AAuth -11 (four-party)');
  });
});

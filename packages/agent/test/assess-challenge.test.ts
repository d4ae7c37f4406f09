import { buildChallenge, generateKey, mintResourceToken, signJwt } from '@aauth-kit/core';
import { buildRequirement } from '@aauth-kit/core/internal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assessChallenge, type ChallengeContext } from '../src/index.js';

const agentKey = generateKey();
const resourceKey = generateKey({ kid: 'r1' });
const identity = 'http://localhost:3000';
const issuer = 'http://localhost:8080/realms/aauth-test';
const NOW = 1_800_000_000;
const ctx: ChallengeContext = { identity, thumbprint: agentKey.thumbprint, trustedAuthServers: [issuer], now: NOW, signedWith: 'jwks_uri', url: 'http://localhost:3001/data' };

const rt = (over: Partial<{ agent: string; agentJkt: string; audience: string; now: number }> = {}) =>
  mintResourceToken(resourceKey, {
    issuer: 'http://localhost:3001',
    audience: over.audience ?? issuer,
    agent: over.agent ?? identity,
    agentJkt: over.agentJkt ?? agentKey.thumbprint,
    scope: 'data.read',
    now: () => over.now ?? NOW,
  });

const res401 = (headers: Record<string, string>) => ({ status: 401, headers });

describe('assessChallenge (pure decisions, wire profile sections 5, 6, 11)', () => {
  it('ignores anything that is not a 401 with a challenge', async () => {
    const token = await rt();
    expect(assessChallenge({ status: 200, headers: { AAuth: buildChallenge({ require: 'auth-token', resourceToken: token }) } }, ctx)).toEqual({ action: 'ignore' });
    expect(assessChallenge({ status: 403, headers: {} }, ctx)).toEqual({ action: 'ignore' });
    expect(assessChallenge(res401({ 'www-authenticate': 'Bearer' }), ctx)).toEqual({ action: 'ignore' });
  });

  it('answers an auth-token challenge in each of the three spellings', async () => {
    const token = await rt();
    const spellings: Array<Record<string, string>> = [
      { AAuth: buildChallenge({ require: 'auth-token', resourceToken: token, authServer: issuer }) },
      { 'AAuth-Requirement': buildRequirement({ require: 'auth-token', resourceToken: token }) },
      { 'Agent-Auth': `httpsig; auth-token; resource_token="${token}"; auth_server="${issuer}"` },
    ];
    for (const headers of spellings) {
      const d = assessChallenge(res401(headers), ctx);
      expect(d.action).toBe('exchange');
      if (d.action !== 'exchange') continue;
      expect(d.authServer).toBe(issuer);
      expect(d.resource).toBe('http://localhost:3001');
      expect(d.scope).toBe('data.read');
      expect(d.resourceToken).toBe(token);
      expect(d.signAs).toBe('jwks_uri');
    }
  });

  it('signs the token request with hwk when the resource token names the pseudonym', async () => {
    const token = await rt({ agent: `pseudonymous:${agentKey.thumbprint}` });
    const d = assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: token, authServer: issuer }) }), { ...ctx, identity: undefined, signedWith: 'hwk' });
    expect(d).toMatchObject({ action: 'exchange', signAs: 'hwk' });
  });

  it('rejects a challenge without a resource token', () => {
    const d = assessChallenge(res401({ AAuth: `require=auth-token; auth-server="${issuer}"` }), ctx);
    expect(d).toMatchObject({ action: 'reject', code: 'challenge_missing_resource_token' });
  });

  it('rejects a resource token issued to another key or another agent', async () => {
    const other = generateKey();
    const byJkt = assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: await rt({ agentJkt: other.thumbprint }), authServer: issuer }) }), ctx);
    expect(byJkt).toMatchObject({ action: 'reject', code: 'resource_token_not_for_agent' });
    const byAgent = assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: await rt({ agent: 'http://localhost:4000' }), authServer: issuer }) }), ctx);
    expect(byAgent).toMatchObject({ action: 'reject', code: 'resource_token_not_for_agent' });
  });

  it('rejects a resource token naming another resource than the one that answered (issue 13, finding 9)', async () => {
    const challenge = { AAuth: buildChallenge({ require: 'auth-token', resourceToken: await rt(), authServer: issuer }) };
    for (const url of ['http://localhost:4000/steal', 'https://localhost:3001/data', 'http://127.0.0.1:3001/data', 'http://localhost:30011/', 'not a url']) {
      expect(assessChallenge(res401(challenge), { ...ctx, url }), url).toMatchObject({ action: 'reject', code: 'challenge_resource_mismatch' });
    }
    expect(assessChallenge(res401(challenge), { ...ctx, url: 'http://localhost:4000/steal' })).toMatchObject({
      message: 'The resource token names the resource "http://localhost:3001", but http://localhost:4000 answered the challenge',
    });
    // The resource's own origin, any path (after a same-origin redirect too): its own challenge.
    expect(assessChallenge(res401(challenge), { ...ctx, url: new URL('http://localhost:3001/other?x=1') })).toMatchObject({ action: 'exchange', resource: 'http://localhost:3001' });
  });

  it('rejects an expired resource token', async () => {
    const token = await rt({ now: NOW - 301 });
    expect(assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: token, authServer: issuer }) }), ctx)).toMatchObject({
      action: 'reject',
      code: 'token_expired',
    });
  });

  it('rejects an auth server outside the allow-list, whether named by the header or by aud', async () => {
    const evil = 'https://evil.example';
    const viaAud = assessChallenge(res401({ 'AAuth-Requirement': buildRequirement({ require: 'auth-token', resourceToken: await rt({ audience: evil }) }) }), ctx);
    expect(viaAud).toMatchObject({ action: 'reject', code: 'auth_server_untrusted' });
    const both = assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: await rt({ audience: evil }), authServer: evil }) }), ctx);
    expect(both).toMatchObject({ action: 'reject', code: 'auth_server_untrusted' });
    // A header naming a trusted server while the token is for another is refused too.
    const mismatch = assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: await rt({ audience: evil }), authServer: issuer }) }), ctx);
    expect(mismatch).toMatchObject({ action: 'reject', code: 'challenge_malformed' });
  });

  it('rejects a token of another typ or a malformed token', async () => {
    const notRt = await signJwt(resourceKey, { typ: 'auth+jwt' }, { iss: 'x', aud: issuer, agent: identity, agent_jkt: agentKey.thumbprint, jti: 'j', iat: NOW, exp: NOW + 60, scope: 's' });
    expect(assessChallenge(res401({ AAuth: buildChallenge({ require: 'auth-token', resourceToken: notRt, authServer: issuer }) }), ctx)).toMatchObject({ code: 'token_typ_invalid' });
    expect(assessChallenge(res401({ AAuth: 'require=auth-token; resource-token="not-a-jwt"' }), ctx)).toMatchObject({ code: 'token_malformed' });
  });

  it('decides the other requirements without any exchange', () => {
    expect(assessChallenge(res401({ AAuth: 'require=identity' }), { ...ctx, identity: undefined })).toMatchObject({ action: 'reject', code: 'challenge_unsatisfiable' });
    expect(assessChallenge(res401({ AAuth: 'require=identity' }), ctx)).toMatchObject({ action: 'return' });
    expect(assessChallenge(res401({ AAuth: 'require=pseudonym' }), ctx)).toMatchObject({ action: 'return' });
    expect(assessChallenge(res401({ AAuth: 'require=payment' }), ctx)).toMatchObject({ action: 'reject', code: 'challenge_unsatisfiable' });
    expect(assessChallenge(res401({ AAuth: 'require="unterminated' }), ctx)).toMatchObject({ action: 'reject', code: 'challenge_malformed' });
  });

  it('never throws on arbitrary challenge headers (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom('AAuth', 'AAuth-Requirement', 'Agent-Auth'), fc.string({ maxLength: 300 }), (name, value) => {
        const d = assessChallenge(res401({ [name]: value }), ctx);
        expect(['ignore', 'return', 'reject', 'exchange']).toContain(d.action);
        // Random text can never produce a token request.
        expect(d.action).not.toBe('exchange');
      }),
      { numRuns: 500 },
    );
  });
});

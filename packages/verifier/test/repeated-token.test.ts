import { afterEach, describe, expect, it, vi } from 'vitest';
import { AAuthError, generateKey, mintPersonToken, signJwt, type HttpRequest } from '@aauth-kit/core';
import { algOf11, serializeSignatureKey } from '@aauth-kit/core/internal';
import { createVerifier, type VerifierOptions } from '@aauth-kit/verifier';
import { manualClock, sign, tableFetch, tableResolver } from './helpers.js';

// Issue 18: a token seen before is one lookup (keyed by the token string itself) plus the request's
// proof of possession; a new one is decoded once. Every check still runs on each use.
const RESOURCE = 'https://api.example';
const ISS = 'https://as.example';
const PS = 'https://ps.example';
const issuerKey = generateKey({ kid: 'as-1' });
const psKey = generateKey({ kid: 'ps-1' });
const agentKey = generateKey({ kid: 'agent-1' });

const documents = {
  [`${ISS}/.well-known/aauth-issuer.json`]: { issuer: ISS, jwks_uri: `${ISS}/certs` },
  [`${ISS}/certs`]: { keys: [issuerKey.toPublishedJwk()] },
  [`${PS}/.well-known/aauth-person.json`]: { issuer: PS, jwks_uri: `${PS}/jwks.json`, auth_token_endpoint: `${PS}/token`, person_token_endpoint: `${PS}/person` },
  [`${PS}/jwks.json`]: { keys: [{ ...psKey.toPublishedJwk(), alg: algOf11(psKey.jwk) }] },
};

const get = (): HttpRequest & { headers: Record<string, string> } => ({ method: 'GET', url: `${RESOURCE}/data`, headers: {} });
const jwtKey = (jwt: string) => serializeSignatureKey({ scheme: 'jwt', jwt }, { form: 'dictionary' });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  return (error as AAuthError).code;
}

/** Both generations: a Keycloak-profile auth token and a -11 person token, each bound to agentKey. */
const GENERATIONS = [
  {
    name: 'Keycloak auth token',
    mint: (now: number, jti: string) =>
      signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: ISS, aud: RESOURCE, agent: 'https://agent.example', sub: 'u-1', scope: 'read', cnf: { jwk: agentKey.jwk }, iat: now, exp: now + 100, jti }),
    issuer: ISS,
  },
  {
    name: '-11 person token',
    mint: (now: number, jti: string) => mintPersonToken(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey, now: () => now, lifetime: 100, jti }),
    issuer: PS,
  },
] as const;

function setup(options: Partial<VerifierOptions> = {}) {
  const clock = manualClock();
  const fetch = tableFetch(documents);
  const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, now: clock.now, discovery: { resolveHostname: tableResolver() }, draft11: { personServers: [PS] }, ...options });
  return { v, fetch, clock };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a repeated token on the request path (issue 18)', () => {
  for (const g of GENERATIONS) {
    it(`${g.name}: decoded once at first sight, not at all when repeated; no fetch either time once the keys are warm`, async () => {
      const { v, fetch, clock } = setup();
      // Warm the issuer's keys with another token.
      await v.verify(sign(get(), agentKey, jwtKey(await g.mint(clock.now(), 'warm'))));
      const fetches = fetch.calls.length;
      const jwt = await g.mint(clock.now(), 'once');
      const first = sign(get(), agentKey, jwtKey(jwt));
      const again = sign(get(), agentKey, jwtKey(jwt), { created: clock.now() + 1 });
      const parse = vi.spyOn(JSON, 'parse');
      await v.verify(first);
      // Header and payload, once each.
      expect(parse).toHaveBeenCalledTimes(2);
      parse.mockClear();
      const who = await v.verify(again);
      expect(parse).not.toHaveBeenCalled();
      expect(who.thumbprint).toBe(agentKey.thumbprint);
      expect(fetch.calls.length).toBe(fetches);
      expect(v.stats().tokens).toBe(2);
    });

    it(`${g.name}: every check still runs on each use: exp against the clock, revocation, cnf binding, the exact token string`, async () => {
      const revoked = new Set<string>();
      const asked: string[] = [];
      const { v, clock } = setup({
        revocation: {
          isRevoked: (iss, jti) => {
            asked.push(`${iss} ${jti}`);
            return revoked.has(jti);
          },
        },
      });
      const jwt = await g.mint(clock.now(), 'r-1');
      await v.verify(sign(get(), agentKey, jwtKey(jwt)));
      await v.verify(sign(get(), agentKey, jwtKey(jwt)));
      expect(asked).toEqual([`${g.issuer} r-1`, `${g.issuer} r-1`]);
      // Proof of possession: the cached token in a request signed by another key.
      expect(await codeOf(v.verify(sign(get(), generateKey({ kid: 'other' }), jwtKey(jwt))))).toBe('token_cnf_mismatch');
      // Keyed by the token itself: the same header and claims with another signature are verified afresh.
      const dot = jwt.lastIndexOf('.');
      const at = dot + 10;
      const forged = `${jwt.slice(0, at)}${jwt[at] === 'A' ? 'B' : 'A'}${jwt.slice(at + 1)}`;
      expect(await codeOf(v.verify(sign(get(), agentKey, jwtKey(forged))))).toBe('token_signature_invalid');
      // Revoked after it was cached: refused on its next use.
      revoked.add('r-1');
      expect(await codeOf(v.verify(sign(get(), agentKey, jwtKey(jwt))))).toBe('token_revoked');
      revoked.clear();
      // Past exp (and the leeway): refused although cached, and dropped from the cache.
      const tokens = v.stats().tokens;
      clock.advance(106);
      expect(await codeOf(v.verify(sign(get(), agentKey, jwtKey(jwt), { created: clock.now() })))).toBe('token_expired');
      expect(v.stats().tokens).toBe(tokens - 1);
    });
  }
});

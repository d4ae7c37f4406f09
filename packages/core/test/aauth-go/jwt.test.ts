import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  AGENT_TOKEN_11,
  AUTH_TOKEN_11,
  RESOURCE_TOKEN_11,
  checkTokenClaims,
  classifyToken,
  decodeToken,
  importPrivateKey,
  signJwt,
  verifyToken,
  type AAuthErrorCode,
  type TokenKind,
  type TokenProfile,
} from '@aauth-kit/core';
import { importTokenKey, verifyTokenSignature } from '@aauth-kit/core';
import { expectRejectsCode } from '../support.js';
import { loadVectors } from './load.js';

// Generation: draft-11 typs (aa-*), with older-draft forms PROVENANCE.md lists: header alg EdDSA,
// cnf.jwk alg EdDSA, an `agent` claim in the resource and auth tokens, lifetimes past the -11 limits,
// and resource/auth tokens without the -11 `ps`, `sub`, `presented_jti`. The bytes and signatures
// reproduce exactly; the -11 profiles refuse each lag with its own code, step by step below.
interface Case {
  name: string;
  typ: string;
  signing_key: Record<string, string>;
  kid: string;
  claims: Record<string, unknown>;
  audience?: string;
  token: string;
}
const { cases, spec } = loadVectors<Case>('jwt.json');
const byName = (name: string): Case => cases.find((c) => c.name === name)!;

type Step = [code: AAuthErrorCode, reason: RegExp, fix: (claims: Record<string, unknown>) => void];
const EDDSA_CNF: Step = [
  'unsupported_algorithm',
  /cnf\.jwk: alg "EdDSA" is polymorphic/,
  (c) => {
    (c.cnf as { jwk: Record<string, unknown> }).jwk.alg = 'Ed25519';
  },
];

/** Walk the -11 claim table from the vector's claims: each step's refusal, then its fix; finally none. */
function walk(profile: TokenProfile, claims: Record<string, unknown>, expectations: Record<string, unknown>, steps: Step[]): Record<string, unknown> {
  const c = structuredClone(claims);
  const clock = { now: c.iat as number, leeway: 5 };
  for (const [code, reason, fix] of steps) {
    const refusal = checkTokenClaims({ profile, claims: c }, expectations, clock);
    expect(refusal?.code).toBe(code);
    expect(refusal?.message).toMatch(reason);
    fix(c);
  }
  expect(checkTokenClaims({ profile, claims: c }, expectations, clock)).toBeUndefined();
  return c;
}

const LAGS: Record<string, { kind: TokenKind; profile: TokenProfile; expect: Record<string, unknown>; steps: Step[] }> = {
  'agent token': {
    kind: 'agent',
    profile: AGENT_TOKEN_11,
    expect: {},
    steps: [['token_lifetime_invalid', /more than 86400 s/, (c) => void (c.exp = (c.iat as number) + 3600)], EDDSA_CNF],
  },
  'sub-agent token': {
    kind: 'agent',
    profile: AGENT_TOKEN_11,
    expect: {},
    steps: [['token_lifetime_invalid', /more than 86400 s/, (c) => void (c.exp = (c.iat as number) + 3600)], EDDSA_CNF],
  },
  'resource token': {
    kind: 'resource',
    profile: RESOURCE_TOKEN_11,
    expect: { audience: 'https://ps.example', agentJkt: 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k' },
    steps: [
      ['token_claim_invalid', /ps is missing/, (c) => void (c.ps = 'https://ps.example')],
      ['token_claim_invalid', /sub is missing/, (c) => void (c.sub = 'user-1234')],
      ['token_claim_invalid', /presented_jti is missing/, (c) => void (c.presented_jti = 'person-token-1')],
      ['token_lifetime_invalid', /more than 300 s/, (c) => void (c.exp = (c.iat as number) + 300)],
      ['token_claim_invalid', /agent must not be present/, (c) => void delete c.agent],
    ],
  },
  'auth token': {
    kind: 'auth',
    profile: AUTH_TOKEN_11,
    expect: { audience: 'https://resource.example' },
    steps: [
      ['token_claim_invalid', /ps is missing/, (c) => void (c.ps = c.iss)],
      EDDSA_CNF,
      ['token_claim_invalid', /agent must not be present/, (c) => void delete c.agent],
    ],
  },
};

describe(`aauth-go jwt.json (${spec}): aa-* tokens in older-draft form`, () => {
  it('has the 4 cases of PROVENANCE.md', () => expect(cases.map((c) => c.name)).toEqual(['agent token', 'sub-agent token', 'resource token', 'auth token']));

  for (const c of cases) {
    describe(c.name, () => {
      const key = importPrivateKey(c.signing_key);

      it('the compact JWT reproduces byte for byte (Ed25519 is deterministic) and its signature verifies', async () => {
        const jwt = await new SignJWT(c.claims as never).setProtectedHeader({ alg: 'EdDSA', kid: c.kid, typ: c.typ }).sign(key.privateKeyObject);
        expect(jwt).toBe(c.token);
        // The kit's own signer gives the same header members (in its own order), kid from the vector JWK.
        expect(key.kid).toBe(c.kid);
        expect(decodeToken(await signJwt(key, { typ: c.typ }, c.claims as never)).header).toEqual(decodeToken(c.token).header);
        expect(verifyTokenSignature(c.token, 'EdDSA', importTokenKey(c.signing_key))).toBe(true);
        expect(decodeToken(c.token).claims).toEqual(c.claims);
        expect(classifyToken(c.typ)).toEqual({ kind: LAGS[c.name]!.kind, generation: 'draft-11' });
      });

      it('draft-11: the header alg EdDSA is refused (token_alg_not_allowed, -09 invalid_jwt)', async () => {
        const e = await expectRejectsCode(
          verifyToken(c.token, { kind: LAGS[c.name]!.kind, generation: 'draft-11', getKey: () => c.signing_key, now: () => c.claims.iat as number }),
          'token_alg_not_allowed',
        );
        expect(e.toProblemJSON().error).toBe('invalid_jwt');
      });

      it('draft-11: each older-draft claim is refused with its own code; brought up to -11 and signed Ed25519, it verifies', async () => {
        const lag = LAGS[c.name]!;
        const current = walk(lag.profile, c.claims, lag.expect, lag.steps);
        const jwt = await signJwt(key, { typ: c.typ }, current as never, { generation: 'draft-11' });
        expect(decodeToken(jwt).header.alg).toBe('Ed25519');
        const verified = await verifyToken(jwt, {
          kind: lag.kind,
          generation: 'draft-11',
          getKey: () => ({ ...c.signing_key, alg: 'Ed25519' }),
          now: () => c.claims.iat as number,
          audience: lag.expect.audience as string | undefined,
        });
        expect(verified.claims.iss).toBe(c.claims.iss);
      });

      it('is never a Keycloak-profile token (token_typ_invalid)', async () => {
        const kind = LAGS[c.name]!.kind;
        if (kind === 'person') return;
        await expectRejectsCode(verifyToken(c.token, { kind, getKey: () => c.signing_key, now: () => c.claims.iat as number }), 'token_typ_invalid');
      });
    });
  }

  it('the auth token audience: aud as an array containing the expected audience passes the -11 aud check', () => {
    const c = byName('auth token');
    expect(c.audience).toBe('https://resource.example');
    const claims = { ...c.claims, ps: c.claims.iss, agent: undefined, cnf: { jwk: { ...(c.claims.cnf as { jwk: object }).jwk, alg: 'Ed25519' } } };
    expect(checkTokenClaims({ profile: AUTH_TOKEN_11, claims }, { audience: c.audience }, { now: c.claims.iat as number, leeway: 5 })).toBeUndefined();
    expect(checkTokenClaims({ profile: AUTH_TOKEN_11, claims }, { audience: 'https://other.example' }, { now: c.claims.iat as number, leeway: 5 })?.code).toBe('token_audience_invalid');
  });
});

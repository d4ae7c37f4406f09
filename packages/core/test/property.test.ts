import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AAuthError,
  buildChallenge,
  decodeToken,
  generateKey,
  importPrivateKey,
  importPublicKey,
  mintResourceToken,
  parseChallenge,
  parseSignatureKey,
  signRequest,
  verifyRequest,
  type HttpRequest,
  type SignatureKey,
} from '@aauth-kit/core';
import {
  createContentDigest,
  parseChallengeHeader,
  parseSignedRequest,
  REQUIRE_LEVELS,
  serializeSignatureKey,
  verifyContentDigest,
} from '@aauth-kit/core/internal';

// Deterministic: the same inputs on every run and machine.
const RUNS = { numRuns: 300, seed: 20250917 } as const;
const NOW = 1774975920;
const now = () => NOW;
const key = generateKey({ kid: 'prop' });
const ecKey = generateKey({ alg: 'ES256' });

/** Returns normally or throws an AAuthError with a 4xx status; anything else fails the property. */
function only4xx(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (error instanceof AAuthError && error.status >= 400 && error.status <= 499) return;
    throw new Error(`escaped: ${String(error)} (${(error as Error)?.constructor?.name})`, { cause: error });
  }
}

// Characters that matter to the parsers, plus arbitrary ones.
const interesting = fc.constantFrom(...'()=;,:"\\ \t?*-_./+@%!#~\n\r\u0000\u007f\u00e9\u{1F600}aAzZ09'.split(''), '\u{1F600}');
const anyChar = fc.oneof(interesting, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
const randomText = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: interesting, maxLength: 300 }), fc.string({ maxLength: 300 }));

type Mutation =
  | { kind: 'replace' | 'insert'; at: number; ch: string }
  | { kind: 'delete' | 'truncate'; at: number }
  | { kind: 'repeat'; at: number; len: number; times: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('replace' as const, 'insert' as const), at: fc.nat(), ch: anyChar }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }), times: fc.integer({ min: 2, max: 6000 }) }),
);

function mutate(value: string, m: Mutation): string {
  const at = value.length === 0 ? 0 : m.at % (value.length + 1);
  switch (m.kind) {
    case 'replace':
      return value.slice(0, at) + m.ch + value.slice(at + 1);
    case 'insert':
      return value.slice(0, at) + m.ch + value.slice(at);
    case 'delete':
      return value.slice(0, at) + value.slice(at + 1);
    case 'truncate':
      return value.slice(0, at);
    case 'repeat': {
      const piece = value.slice(at, at + m.len) || 'a';
      return value.slice(0, at) + piece.repeat(m.times) + value.slice(at);
    }
  }
}

/** Valid values from `seeds`, each put through one to five mutations. */
const mutated = (seeds: readonly string[]) =>
  fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 5 })).map(([seed, ms]) => ms.reduce(mutate, seed));
/** Random text, mutated valid values, and (unmutated) valid values. */
const hostile = (seeds: readonly string[]) => fc.oneof({ arbitrary: mutated(seeds), weight: 3 }, { arbitrary: randomText, weight: 2 }, fc.constantFrom(...seeds));

const jwt = 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF1dGgrand0In0.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjgwODAifQ.c2ln';
const signatureKeySeeds = [
  serializeSignatureKey({ scheme: 'hwk', jwk: key.jwk }),
  serializeSignatureKey({ scheme: 'hwk', jwk: ecKey.jwk }, { form: 'dictionary' }),
  'sig=(scheme=jwks_uri id="http://supply-chain-agent.localhost:3000" kid="sca-1")',
  'sig=jwks_uri;id="https://agent.example";dwk="aauth-agent.json";kid="k\\"1"',
  `sig=jwt;jwt="${jwt}"`,
  `sig=hwk;kty="OKP";crv="Ed25519";x="${key.jwk.x}";alg="Ed25519"`,
  'sig=(scheme=x509 cert="abc")',
];
const challengeSeeds = [
  `require=auth-token; resource-token="${jwt}"; auth-server="http://localhost:8080/realms/aauth-test"`,
  `requirement=auth-token; resource-token="${jwt}"`,
  `httpsig; auth-token; resource_token="${jwt}"; auth_server="http://localhost:8080"`,
  'require=interaction; code="a\\"b"',
  'require=payment',
];

describe('property: parsers of untrusted input return or throw a 4xx AAuthError, nothing else', () => {
  it('parseSignatureKey', () => {
    fc.assert(
      fc.property(hostile(signatureKeySeeds), (value) => only4xx(() => parseSignatureKey(value))),
      RUNS,
    );
  });

  it('parseSignatureKey with several field lines', () => {
    fc.assert(
      fc.property(fc.array(hostile(signatureKeySeeds), { maxLength: 3 }), (lines) => only4xx(() => parseSignatureKey(lines))),
      RUNS,
    );
  });

  it('parseChallengeHeader, all three spellings', () => {
    fc.assert(
      fc.property(hostile(challengeSeeds), fc.constantFrom('AAuth' as const, 'AAuth-Requirement' as const, 'Agent-Auth' as const), (value, spelling) =>
        only4xx(() => {
          const c = parseChallengeHeader(value, spelling);
          expect(typeof c.require).toBe('string');
          expect(c.satisfiable).toBe((REQUIRE_LEVELS as readonly string[]).includes(c.require));
        }),
      ),
      RUNS,
    );
  });

  it('parseChallenge on header records', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('aauth', 'AAuth-Requirement', 'agent-auth', 'x-other'), hostile(challengeSeeds)), (headers) =>
        only4xx(() => parseChallenge(headers)),
      ),
      RUNS,
    );
  });

  it('verifyContentDigest', () => {
    const body = '{"a":1}';
    const seeds = [createContentDigest(body), createContentDigest(body, 'sha-512'), `${createContentDigest(body)}, md5=:AAAA:`];
    fc.assert(
      fc.property(hostile(seeds), fc.oneof(fc.constant(body), fc.string(), fc.uint8Array({ maxLength: 64 })), (header, b) =>
        only4xx(() => verifyContentDigest(header, b)),
      ),
      RUNS,
    );
  });

  it('decodeToken', async () => {
    const real = await mintResourceToken(key, { issuer: 'http://localhost:3001', audience: 'http://localhost:8080', agent: 'a', agentJkt: 'j', scope: 's', now });
    fc.assert(
      fc.property(hostile([real, jwt, 'a.b.c', '..']), (value) => only4xx(() => decodeToken(value))),
      RUNS,
    );
  });

  it('importPublicKey with random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => only4xx(() => importPublicKey(value))),
      RUNS,
    );
  });

  it('importPublicKey with mutated JWKs (text mutations, then JSON.parse when it still parses)', () => {
    const seeds = [JSON.stringify(key.toPublishedJwk()), JSON.stringify(ecKey.jwk), JSON.stringify({ ...key.jwk, alg: 'Ed25519' })];
    fc.assert(
      fc.property(mutated(seeds), fc.constantFrom('node' as const, 'noble' as const), (text, backend) => {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          value = text;
        }
        only4xx(() => {
          const pub = importPublicKey(value, { backend });
          expect(pub.verify(Buffer.from('x'), new Uint8Array(64))).toBe(false);
        });
      }),
      RUNS,
    );
  });

  it('importPublicKey with mutated member values', () => {
    const members = fc.record({
      kty: fc.oneof(fc.constantFrom('OKP', 'EC', 'RSA', 'oct'), randomText),
      crv: fc.oneof(fc.constantFrom('Ed25519', 'P-256', 'X25519'), randomText),
      x: fc.oneof(mutated([key.jwk.x, (ecKey.jwk as { x: string }).x]), randomText),
      y: fc.oneof(mutated([(ecKey.jwk as { y: string }).y]), fc.constant(undefined)),
    });
    fc.assert(
      fc.property(members, (jwk) => only4xx(() => importPublicKey(jwk))),
      RUNS,
    );
  });

  it('importPrivateKey with random and mutated text', () => {
    const seeds = [JSON.stringify(key.toPrivateJwk()), key.toPem(), ecKey.toPem()];
    fc.assert(
      fc.property(hostile(seeds), (text) => only4xx(() => importPrivateKey(text))),
      { ...RUNS, numRuns: 200 },
    );
  });

  it('parseSignedRequest with random and mutated Signature, Signature-Input and Signature-Key', () => {
    const get: HttpRequest = { method: 'GET', url: 'https://api.example/items?x=1', headers: {} };
    const post: HttpRequest = { method: 'POST', url: 'https://api.example/orders', headers: { 'content-type': 'application/json' }, body: '{"q":1}' };
    const sg = signRequest(get, { key, now }).headers;
    const sp = signRequest(post, { key: ecKey, now, signatureKeyForm: 'dictionary', signatureEncoding: 'base64url' }).headers;
    const field = (seeds: string[]) => fc.oneof(hostile(seeds), fc.array(hostile(seeds), { maxLength: 3 }), fc.constant(undefined));
    fc.assert(
      fc.property(
        fc.constantFrom(get, post),
        field([sg['signature-input']!, sp['signature-input']!, `${sg['signature-input']!}, proxy=("@method");created=1`]),
        field([sg.signature!, sp.signature!]),
        field([sg['signature-key']!, sp['signature-key']!, ...signatureKeySeeds]),
        field([sp['content-digest']!]),
        fc.oneof(fc.constant(undefined), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })),
        (request, input, signature, signatureKey, digest, body) => {
          const headers: Record<string, string | string[]> = { ...(request.headers as Record<string, string>) };
          if (input !== undefined) headers['signature-input'] = input;
          if (signature !== undefined) headers.signature = signature;
          if (signatureKey !== undefined) headers['signature-key'] = signatureKey;
          if (digest !== undefined) headers['content-digest'] = digest;
          only4xx(() => parseSignedRequest({ ...request, headers, body: body ?? request.body }, { now }));
        },
      ),
      RUNS,
    );
  });

  it('parseSignedRequest with one header of a valid signed request mutated', () => {
    const post: HttpRequest = { method: 'POST', url: 'https://api.example/orders?id=7', headers: { 'content-type': 'application/json' }, body: '{"q":1}' };
    const valid = signRequest(post, { key, now }).headers;
    const names = ['signature-input', 'signature', 'signature-key', 'content-digest'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.array(mutation, { minLength: 1, maxLength: 3 }), (name, ms) => {
        const headers = { ...(post.headers as Record<string, string>), ...valid, [name]: ms.reduce(mutate, valid[name]!) };
        only4xx(() => parseSignedRequest({ ...post, headers }, { now }));
      }),
      RUNS,
    );
  });
});

describe('property: round trips', () => {
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 80 });

  it('serializeSignatureKey -> parseSignatureKey gives the same key, both forms', () => {
    const keyArb: fc.Arbitrary<SignatureKey> = fc.oneof(
      fc.record({ scheme: fc.constant('jwks_uri' as const), id: printable, kid: printable }),
      fc.record({ scheme: fc.constant('jwks_uri' as const), id: printable, dwk: printable, kid: printable }),
      fc.record({ scheme: fc.constant('jwt' as const), jwt: printable }),
    );
    const label = fc.stringMatching(/^[a-z][a-z0-9_.*-]{0,10}$/);
    fc.assert(
      fc.property(keyArb, label, fc.constantFrom('parenthesised' as const, 'dictionary' as const), (k, l, form) => {
        expect(parseSignatureKey(serializeSignatureKey(k, { label: l, form }))).toEqual({ label: l, key: k, form });
      }),
      RUNS,
    );
  });

  it('buildChallenge -> parseChallengeHeader gives the same values', () => {
    fc.assert(
      fc.property(fc.constantFrom(...REQUIRE_LEVELS), printable, printable, (require, resourceToken, authServer) => {
        expect(parseChallengeHeader(buildChallenge({ require, resourceToken, authServer }))).toMatchObject({
          require,
          satisfiable: true,
          resourceToken,
          authServer,
        });
      }),
      RUNS,
    );
  });

  it('any signed request verifies, and any change to its body is a digest_mismatch', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
        fc.array(segment, { maxLength: 4 }),
        fc.option(fc.array(fc.tuple(segment, segment), { minLength: 1, maxLength: 3 })),
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 200 })),
        fc.integer({ min: 0, max: 255 }),
        async (method, path, query, body, flip) => {
          const search = query ? `?${query.map(([k, v]) => `${k}=${v}`).join('&')}` : '';
          const request: HttpRequest = { method, url: `http://localhost:3000/${path.join('/')}${search}`, headers: { 'content-type': 'application/octet-stream' }, body };
          const signed = { ...request, headers: { ...(request.headers as Record<string, string>), ...signRequest(request, { key, now }).headers } };
          const result = await verifyRequest(signed, { now, key });
          expect(result.components.includes('@query')).toBe(search.length > 0);
          if (body) {
            const changed = Uint8Array.from(body);
            changed[flip % changed.length]! ^= 1 + (flip % 255);
            await expect(verifyRequest({ ...signed, body: changed }, { now, key })).rejects.toMatchObject({ code: 'digest_mismatch', status: 401 });
          }
        },
      ),
      { numRuns: 150, seed: RUNS.seed },
    );
  });
});

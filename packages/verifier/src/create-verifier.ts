import {
  AAuthError,
  isIdempotent,
  parseSignedRequest,
  verifySignedRequest,
  importPublicKey,
  type HttpRequest,
  type PublicKey,
  type SignedRequest,
  type EcPublicJwk,
  type OkpPublicJwk,
} from '@aauth-kit/core';
import { createMemoryReplayStore } from './create-memory-replay-store.js';
import { AuthTokenChecker, authenticClaims } from './lib/auth-token.js';
import { DocumentFetcher } from './lib/document-fetcher.js';
import { EgressPolicy } from './lib/egress.js';
import { KeyDiscovery } from './lib/key-discovery.js';
import { LruCache } from './lib/lru.js';
import { resolveVerifierOptions } from './lib/options.js';
import { replayKey } from './lib/replay-key.js';
import type { ReplayStore, VerifiedAuthToken, VerifiedCaller, VerifiedRequest, Verifier, VerifierOptions, VerifyOptions } from './types.js';

let warnedMemoryStore = false;

/**
 * Create a framework-neutral verifier of AAuth-signed requests and auth tokens (wire profile
 * sections 3, 4 and 7). Options are validated now; misuse throws a TypeError naming the option.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const o = resolveVerifierOptions(options);
  const allowsEd25519 = o.algorithms.includes('EdDSA') || o.algorithms.includes('Ed25519');
  const allowsEs256 = o.algorithms.includes('ES256');
  const checkKeyAlgorithm = (key: PublicKey): void => {
    const ok = key.algorithm === 'ed25519' ? allowsEd25519 : allowsEs256;
    if (!ok) throw new AAuthError('unsupported_algorithm', `Keys using ${key.algorithm} are not accepted here`);
  };

  const egress = new EgressPolicy({
    allowHttpHosts: o.discovery.allowHttpHosts,
    allowPrivateAddresses: o.discovery.allowPrivateAddresses,
    ...(o.discovery.allowHosts ? { allowHosts: o.discovery.allowHosts } : {}),
    ...(o.discovery.resolveHostname ? { resolveHostname: o.discovery.resolveHostname } : {}),
  });
  const fetcher = new DocumentFetcher({
    fetch: o.fetch,
    now: o.now,
    egress,
    timeoutMs: o.discovery.timeoutMs,
    maxBytes: o.discovery.maxBytes,
    maxEntries: o.discovery.maxEntries,
    minTtl: 60,
    maxTtl: 24 * 3600,
    defaultTtl: o.discovery.defaultTtl,
    failureTtl: o.discovery.failureTtl,
    maxInflight: o.discovery.maxInflight,
  });
  const importKey = (jwk: unknown) => importPublicKey(jwk, { backend: o.cryptoBackend });
  const discovery = new KeyDiscovery({ fetcher, localIssuerKeys: o.localIssuerKeys, checkKeyAlgorithm, importKey });
  const tokens = new AuthTokenChecker({
    importKey,
    discovery,
    trustedIssuers: o.trustedIssuers,
    algorithms: o.algorithms,
    now: o.now,
    leeway: o.tokenLeeway,
    maxEntries: o.maxTokenEntries,
    checkKeyAlgorithm,
  });
  const inlineKeys = new LruCache<string, PublicKey>(o.maxKeyEntries);

  let replayStore: ReplayStore | undefined = o.replayStore;
  if (!replayStore && o.replayMethods !== 'none') {
    replayStore = createMemoryReplayStore({ now: o.now });
    if (!warnedMemoryStore) {
      warnedMemoryStore = true;
      process.emitWarning('AAuth replay protection uses an in-memory store: use createRedisReplayStore() for more than one process', {
        code: 'AAUTH_MEMORY_REPLAY_STORE',
      });
    }
  }

  function inlineKey(jwk: OkpPublicJwk | EcPublicJwk): PublicKey {
    const cacheKey = jwk.kty === 'OKP' ? `OKP:${jwk.crv}:${jwk.x}` : `EC:${jwk.crv}:${jwk.x}:${jwk.y}`;
    let key = inlineKeys.get(cacheKey);
    if (!key) {
      key = importKey(jwk);
      inlineKeys.set(cacheKey, key);
    }
    checkKeyAlgorithm(key);
    return key;
  }

  /** A rejected but authentic token still names its caller if the request is signed with its cnf.jwk. */
  function withCaller(error: unknown, signed: SignedRequest): unknown {
    if (!(error instanceof AAuthError)) return error;
    const claims = authenticClaims.get(error);
    if (!claims) return error;
    let key: PublicKey;
    try {
      key = importKey(claims.cnf?.jwk);
      verifySignedRequest(signed, key);
    } catch {
      return error;
    }
    const agent = typeof claims.agent === 'string' ? claims.agent : typeof claims.aud === 'string' ? claims.aud : undefined;
    if (agent === undefined) return error;
    const caller: VerifiedCaller = { scheme: 'jwt', agent, thumbprint: key.thumbprint };
    return new AAuthError(error.code, error.message, { details: { ...error.details, caller }, cause: error.cause });
  }

  async function verify(request: HttpRequest, verifyOptions: VerifyOptions = {}): Promise<VerifiedRequest> {
    // Cheap checks first (architecture: refuse cheaply): coverage, created window, digest.
    const signed = parseSignedRequest(request, {
      now: o.now,
      maxSkew: o.maxSkew,
      requireContentDigest: o.requireContentDigest,
      maxHeaderBytes: o.maxSignatureHeaderBytes,
      ...(verifyOptions.requiredComponents ? { requiredComponents: verifyOptions.requiredComponents.map((c) => c.toLowerCase()) } : {}),
    });
    const sk = signed.signatureKey!;
    let key: PublicKey;
    let agent: string;
    let token: VerifiedAuthToken | undefined;
    switch (sk.scheme) {
      case 'hwk':
        key = inlineKey(sk.jwk);
        agent = `pseudonymous:${key.thumbprint}`;
        verifySignedRequest(signed, key);
        break;
      case 'jwks_uri':
        key = await discovery.agentKey(sk.id, sk.kid, sk.dwk);
        agent = sk.id;
        verifySignedRequest(signed, key);
        break;
      case 'jwt':
        try {
          token = await tokens.verify(sk.jwt, o.identity);
        } catch (error) {
          throw withCaller(error, signed);
        }
        key = token.cnf;
        // Keycloak omits `agent` when it equals `aud` (section 7).
        agent = token.agent ?? (typeof token.audience === 'string' ? token.audience : o.identity);
        try {
          verifySignedRequest(signed, key);
        } catch {
          // Proof of possession (section 7): the request must be signed with cnf.jwk.
          throw new AAuthError('token_cnf_mismatch');
        }
        break;
    }

    // Replay check after verification, so forgeries cannot fill the store (section 3).
    const check = o.replayMethods === 'all' || (o.replayMethods === 'non-idempotent' && !isIdempotent(signed.method));
    if (check && replayStore) {
      const now = o.now();
      const until = Math.min(signed.expires ?? Number.POSITIVE_INFINITY, (signed.created ?? now) + o.maxSkew);
      const ttl = Math.max(1, Math.ceil(until - now) + 1);
      let first: boolean;
      try {
        first = await replayStore.checkAndStore(replayKey(key, signed.signature), ttl);
      } catch (error) {
        throw new Error('The replay store failed', { cause: error });
      }
      if (!first) throw new AAuthError('signature_replayed');
    }

    const result: VerifiedRequest = { scheme: sk.scheme, agent, thumbprint: key.thumbprint, key, signed };
    if (token) result.token = token;
    return result;
  }

  return {
    verify,
    resolveAgentKey: (id, kid) => discovery.agentKey(id, kid),
    resolveResourceJwk: (iss, kid) => discovery.resourceJwk(iss, kid),
    resolveIssuerJwk: (iss, kid) => discovery.issuerJwk(iss, kid),
    resolveMetadata: (kind, id) => discovery.metadataDocument(kind, id),
    verifyAuthToken: (jwt, opts = {}) => tokens.verify(jwt, opts.audience ?? o.identity),
    stats: () => ({
      documents: fetcher.size,
      keys: inlineKeys.size,
      tokens: tokens.size,
      inflight: fetcher.inflightCount,
      fetches: fetcher.fetchCount,
    }),
  };
}

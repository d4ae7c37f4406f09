import { AAuthError, jwkAlgProblem, type PublicKey } from '@aauth-kit/core';
import { identityUrlProblem, isLocalHostname, serverIdentifierProblem, showValue } from '@aauth-kit/core/internal';
import { LruCache, type DocumentFetcher, type FetchedDocument } from '@aauth-kit/discovery';

/** A JWK as found in a JWKS (untrusted input). */
export type Jwk = Record<string, unknown>;

export interface KeyDiscoveryOptions {
  fetcher: DocumentFetcher;
  /** Issuer -> JWKS known locally (no fetch). */
  localIssuerKeys: Record<string, { keys: object[] }>;
  /** Accepts an HTTP-signature key's algorithm (the verifier's allow-list). */
  checkKeyAlgorithm: (key: PublicKey) => void;
  /** Imports a public JWK with the configured crypto backend. */
  importKey: (jwk: unknown) => PublicKey;
  /** -11: accept http and a port on loopback hosts in server identifiers (development only). */
  allowLoopback: boolean;
  /** -11: the key algorithms accepted (`Ed25519`, `ES256` or a subset). */
  algorithms11: readonly string[];
  /** Bound of the warm agent-key cache (see {@link KeyDiscovery.warmAgentKey}); default 10000. */
  maxWarmKeys?: number | undefined;
  /**
   * The verifier's one bounded cache of imported public keys, by key material (see
   * {@link keyCacheId}); jwks_uri keys share it with inline (`hwk`) and `cnf` keys. Default: a
   * cache of its own, of `maxWarmKeys` entries.
   */
  keyCache?: LruCache<string, PublicKey> | undefined;
}

/**
 * The key cache's id of a public JWK: its kind and its public members, which are all an imported
 * HTTP-signature key depends on (one key, whichever document or header carried it). Undefined for
 * a JWK whose members are not all strings (never cached: imported, and refused, every time).
 */
export function keyCacheId(jwk: Record<string, unknown>): string | undefined {
  if (typeof jwk.crv !== 'string' || typeof jwk.x !== 'string') return undefined;
  if (jwk.kty === 'OKP') return `OKP:${jwk.crv}:${jwk.x}`;
  if (jwk.kty === 'EC' && typeof jwk.y === 'string') return `EC:${jwk.crv}:${jwk.x}:${jwk.y}`;
  return undefined;
}

/**
 * A fetcher that can answer "is this exact cached document still fresh?" without fetching or
 * awaiting: the document at `href` (as {@link FetchedDocument.url} names it) while fresh, else
 * undefined. Optional: without it the warm agent-key path is off and every lookup goes through
 * `fetchJson`.
 */
type PeekingFetcher = DocumentFetcher & { peek?: (href: string) => FetchedDocument | undefined };

/** An agent key found by the full lookup, with every document the lookup read to find it. */
interface WarmKey {
  docs: FetchedDocument[];
  key: PublicKey;
}

/** The warm-cache key of one `Signature-Key` jwks_uri member (no sf-string holds a NUL). */
function warmId(id: string, kid: string, dwk: string | undefined, legacy: boolean): string {
  return `${legacy ? 'L' : 'N'}${dwk === undefined ? '-' : `+${dwk}`}\u0000${id}\u0000${kid}`;
}

/** The -11 well-known documents a token's `dwk` may name (draft-11 profile sections 2 and 6). */
export const DWK_11 = ['aauth-agent.json', 'aauth-person.json', 'aauth-access.json', 'aauth-resource.json'] as const;

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

/** Which `kty`/`crv` a JWS `alg` needs (never HMAC, never `none`). */
function algMatchesKey(alg: string | undefined, jwk: Jwk): boolean {
  switch (alg) {
    case undefined:
      return true;
    case 'RS256':
      return jwk.kty === 'RSA';
    case 'ES256':
      return jwk.kty === 'EC' && jwk.crv === 'P-256';
    case 'EdDSA':
    case 'Ed25519':
      return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
    default:
      return false;
  }
}

function sameAlg(a: string, b: string): boolean {
  const norm = (s: string): string => (s === 'Ed25519' ? 'EdDSA' : s);
  return norm(a) === norm(b);
}

/** Only the public members jose needs; a JWKS that publishes a private key is refused. */
/**
 * The public members of a published JWK. The same published key (one object while its JWKS stays
 * cached) always yields the same object, so that jose's per-key import cache hits: importing an
 * RSA key through WebCrypto on every token would cost more than verifying the token.
 */
const publicViews = new WeakMap<Jwk, Jwk>();
const publicViewsWithAlg = new WeakMap<Jwk, Jwk>();

function publicJwk(jwk: Jwk, where: string, withAlg = false): Jwk {
  if (jwk.d !== undefined || jwk.p !== undefined || jwk.k !== undefined) {
    throw new AAuthError('key_invalid', `${where} publishes private or symmetric key material`);
  }
  const views = withAlg ? publicViewsWithAlg : publicViews;
  const cached = views.get(jwk);
  if (cached) return cached;
  const out: Jwk = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) out[m] = jwk[m];
  // -11: the key verifies its own alg only (token-signature.ts narrows by it).
  if (withAlg && typeof jwk.alg === 'string') out.alg = jwk.alg;
  Object.freeze(out);
  views.set(jwk, out);
  return out;
}

function keysOf(doc: FetchedDocument, where: string): Jwk[] {
  const keys = doc.body?.keys;
  if (!Array.isArray(keys)) throw new AAuthError('key_discovery_failed', `${where} has no "keys" array`, { details: { url: doc.url } });
  return keys.filter((k): k is Jwk => typeof k === 'object' && k !== null && !Array.isArray(k));
}

/**
 * What makes `value` unusable as an identity URL or issuer, apart from its scheme: whether plain
 * http may be fetched is the egress policy's decision (`allowHttpHosts`), not the URL's shape.
 */
function structuralProblem(value: string): string | undefined {
  const problem = identityUrlProblem(value);
  if (problem === undefined || !/must use https/.test(problem)) return problem;
  const url = new URL(value);
  return identityUrlProblem(`https://${value.slice(url.protocol.length + 2)}`);
}

/**
 * Key discovery of wire profile sections 4, 7 and 8: agent and resource metadata -> `jwks_uri` ->
 * key by `kid`; issuer metadata -> `jwks_uri` (then OpenID Provider metadata, then the fallback
 * `{iss}/protocol/openid-connect/certs`).
 */
export class KeyDiscovery {
  /** Imported keys by key material (bounded; shared with the verifier's inline keys). */
  private readonly keys: LruCache<string, PublicKey>;
  /** Agent keys by Signature-Key member, valid while the documents they came from are the cached, fresh ones. */
  private readonly warm: LruCache<string, WarmKey> | undefined;
  /**
   * The member {@link warmAgentKey} found last (issue 18: an agent sends the same one on every
   * request): read again without building its id or touching the cache, where it is already the
   * most recently used entry. Forgotten whenever the cache stores an entry.
   */
  private lastWarm: { id: string; kid: string; dwk: string | undefined; legacy: boolean; entry: WarmKey } | undefined;

  constructor(private readonly options: KeyDiscoveryOptions) {
    this.warm = typeof (options.fetcher as PeekingFetcher).peek === 'function' ? new LruCache(options.maxWarmKeys ?? 10_000) : undefined;
    this.keys = options.keyCache ?? new LruCache(options.maxWarmKeys ?? 10_000);
  }

  /**
   * The warm path of {@link agentKey} (issue 18): the key the full lookup found for the same
   * `id`, `kid`, `dwk` and generation, as long as every document that lookup read is still the
   * fetcher's cached, fresh copy, i.e. exactly what the full lookup would read and check again
   * now. Synchronous: no URL parse, no await. Undefined when not warm (then call agentKey).
   */
  warmAgentKey(id: string, kid: string, dwk: string | undefined, legacy = true): PublicKey | undefined {
    if (this.warm === undefined) return undefined;
    let entry: WarmKey | undefined;
    const last = this.lastWarm;
    if (last !== undefined && last.id === id && last.kid === kid && last.dwk === dwk && last.legacy === legacy) {
      // The member read last, and nothing stored since: already the most recently used entry.
      entry = last.entry;
    } else {
      entry = this.warm.get(warmId(id, kid, dwk, legacy));
      this.lastWarm = entry === undefined ? undefined : { id, kid, dwk, legacy, entry };
    }
    if (entry === undefined) return undefined;
    const fetcher = this.options.fetcher as PeekingFetcher;
    for (const doc of entry.docs) if (fetcher.peek!(doc.url) !== doc) return undefined;
    this.options.checkKeyAlgorithm(entry.key);
    return entry.key;
  }

  /**
   * The JWKS the warm agent key for this member came from (its URL and when it was fetched, epoch
   * seconds), for error messages; undefined when the key is not warm.
   */
  agentJwksOf(id: string, kid: string, dwk: string | undefined, legacy = true): { url: string; fetchedAt: number } | undefined {
    const docs = this.warm?.get(warmId(id, kid, dwk, legacy))?.docs;
    const jwks = docs?.[docs.length - 1];
    return jwks === undefined ? undefined : { url: jwks.url, fetchedAt: jwks.fetchedAt };
  }

  /** GET `{base}/.well-known/{name}.json`, falling back to the name without `.json` only on 404. */
  private async metadata(base: string, name: string, optional = false, caller?: string, seen?: FetchedDocument[]): Promise<FetchedDocument | undefined> {
    const { fetcher } = this.options;
    const kind = `${name.slice('aauth-'.length)} metadata`;
    const first = await fetcher.fetchJson(`${base}/.well-known/${name}.json`, { kind, caller });
    seen?.push(first);
    if (first.status === 200) return first;
    const second = await fetcher.fetchJson(`${base}/.well-known/${name}`, { kind, caller });
    seen?.push(second);
    if (second.status === 200) return second;
    if (optional) return undefined;
    throw new AAuthError('key_discovery_failed', `No ${name} metadata at ${base}/.well-known/${name}.json`, { details: { url: first.url } });
  }

  private jwksUri(doc: FetchedDocument, what: string): string {
    const uri = doc.body?.jwks_uri;
    if (typeof uri !== 'string' || uri.length === 0) {
      throw new AAuthError('key_discovery_failed', `${what} metadata has no jwks_uri`, { details: { url: doc.url } });
    }
    try {
      return new URL(uri).href;
    } catch {
      throw new AAuthError('key_discovery_failed', `${what} metadata jwks_uri is not an absolute URL`, { details: { url: doc.url } });
    }
  }

  /**
   * A -11 document's `jwks_uri` (draft-11 profile section 10): the egress policy lets plain http and
   * local names (`localhost`, `127.0.0.1`, `[::1]`) through for the Keycloak profile's development
   * set-ups, but in -11 that relaxation is `allowLoopback`'s alone: a signer's document must not
   * point this server at its own loopback services.
   */
  private jwksUri11(doc: FetchedDocument, what: string): string {
    const uri = this.jwksUri(doc, what);
    const url = new URL(uri);
    const local = isLocalHostname(url.hostname);
    if (!this.options.allowLoopback && (local || url.protocol !== 'https:')) {
      throw new AAuthError('egress_denied', `${what} jwks_uri must be https on a non-loopback host (allowLoopback is off)`, { details: { url: doc.url } });
    }
    if (url.protocol !== 'https:' && !local) {
      throw new AAuthError('egress_denied', `${what} jwks_uri must be https (http only on loopback hosts)`, { details: { url: doc.url } });
    }
    return uri;
  }

  /**
   * Find the key with `kid` in the JWKS at `uri` (filtered by `accept`), refetching once when the
   * kid is unknown unless the JWKS was fetched within the last minute (section 4). With `refresh`,
   * the first read is a refetch too (under the same one-minute floor): a key that no longer verifies.
   */
  private async findKey(uri: string, kid: string | undefined, accept: (jwk: Jwk) => boolean, what: string, caller?: string, seen?: FetchedDocument[], refresh = false): Promise<Jwk> {
    const { fetcher } = this.options;
    const pick = (doc: FetchedDocument): Jwk | undefined => {
      if (doc.status !== 200) throw new AAuthError('key_discovery_failed', `${what} JWKS not found`, { details: { url: uri } });
      const keys = keysOf(doc, `${what} JWKS`).filter((k) => k.use === undefined || k.use === 'sig');
      if (kid !== undefined) return keys.find((k) => k.kid === kid && accept(k));
      const usable = keys.filter(accept);
      return usable.length === 1 ? usable[0] : undefined;
    };
    const kind = `${what.toLowerCase()} JWKS`;
    const first = await fetcher.fetchJson(uri, refresh ? { kind, caller, refresh } : { kind, caller });
    const found = pick(first);
    if (found) {
      seen?.push(first);
      return found;
    }
    if (kid === undefined) {
      throw new AAuthError('key_not_found', `${what}: no kid given and the JWKS has no single usable key`, { details: { url: uri } });
    }
    const second = await fetcher.fetchJson(uri, { kind, refresh: true, caller });
    const again = pick(second);
    if (again) {
      // The refetched copy is the cached one now: the next full lookup reads it first.
      seen?.push(second);
      return again;
    }
    throw new AAuthError('key_not_found', `${what}: no key with kid ${showValue(kid)} in the JWKS`, { details: { url: uri, kid } });
  }

  /** An agent's or resource's metadata document whose `agent` / `resource` member is `id` (section 9). */
  async metadataDocument(kind: 'agent' | 'resource', id: string): Promise<Record<string, unknown>> {
    const problem = structuralProblem(id);
    if (problem) throw new AAuthError('key_discovery_failed', `The ${kind} identity ${problem}`);
    const meta = (await this.metadata(id, `aauth-${kind}`))!;
    if (meta.body?.[kind] !== id) {
      throw new AAuthError('key_discovery_failed', `The ${kind} metadata names another ${kind} than ${id}`, { details: { url: meta.url } });
    }
    return meta.body;
  }

  /**
   * The agent's HTTP-signature key for `Signature-Key: sig=(scheme=jwks_uri id=... kid=...)`;
   * `caller` (the client's address) holds the fetches to `maxInflightPerCaller`. With
   * `dwk="aauth-agent.json"` (-11), a document with `issuer` must name `id` byte for byte
   * (`issuer_mismatch`) and the key must carry a fully specified `alg`; a document without `issuer`
   * is accepted only in the earlier form that names the agent in `agent`, and only with `legacy`
   * (the Keycloak profile is spoken; else `issuer_missing`). With `refresh` the JWKS is refetched
   * (at most once a minute per URL, section 4): the cached key failed to verify a signature, and
   * an agent that made a new key under the same kid (a restart with an ephemeral key) is then
   * recognised within a minute instead of when its JWKS expires.
   */
  async agentKey(id: string, kid: string, dwk?: string, caller?: string, legacy = true, refresh = false): Promise<PublicKey> {
    const problem = structuralProblem(id);
    if (problem) throw new AAuthError('signature_key_malformed', `Signature-Key id ${problem}`);
    if (dwk !== undefined) {
      // Draft-11 `dwk` names the well-known document; only the agent document says who the agent is.
      if (dwk !== 'aauth-agent.json' && dwk !== 'aauth-agent') {
        throw new AAuthError('signature_key_malformed', `Signature-Key dwk ${JSON.stringify(dwk.slice(0, 100))} is not supported`);
      }
    }
    if (!legacy) {
      // -11 only: the id is a server identifier; check it before anything is fetched from it (SSRF),
      // and only the -11 document is accepted (not the Keycloak profile's `agent` form).
      if (dwk !== 'aauth-agent.json') throw new AAuthError('signature_key_malformed', 'Signature-Key jwks_uri needs dwk="aauth-agent.json" in -11');
      const idProblem = serverIdentifierProblem(id, { allowLoopback: this.options.allowLoopback });
      if (idProblem) throw new AAuthError('signature_key_malformed', `Signature-Key id ${idProblem}`);
    }
    const seen: FetchedDocument[] | undefined = this.warm === undefined ? undefined : [];
    const meta = (await this.metadata(id, 'aauth-agent', false, caller, seen))!;
    // -11 (AAuth -11 "Metadata Documents", -09 section 3.6): `issuer` is the signer's identity.
    const draft11 = dwk === 'aauth-agent.json' && meta.body?.issuer !== undefined;
    if (dwk === 'aauth-agent.json') {
      if (meta.body?.issuer === undefined && (!legacy || meta.body?.agent !== id)) {
        throw new AAuthError('issuer_missing', 'The agent metadata has no issuer', { details: { url: meta.url } });
      }
      if (draft11) {
        if (meta.body?.issuer !== id) {
          throw new AAuthError('issuer_mismatch', 'The agent metadata issuer is not the Signature-Key id', { details: { url: meta.url } });
        }
        const idProblem = serverIdentifierProblem(id, { allowLoopback: this.options.allowLoopback });
        if (idProblem) throw new AAuthError('signature_key_malformed', `Signature-Key id ${idProblem}`);
      }
    } else if (meta.body?.agent !== id) {
      throw new AAuthError('key_discovery_failed', 'The agent metadata names another agent than the Signature-Key id', {
        details: { url: meta.url },
      });
    }
    const uri = draft11 ? this.jwksUri11(meta, 'Agent') : this.jwksUri(meta, 'Agent');
    const jwk = await this.findKey(uri, kid, (k) => k.kty === 'OKP' || k.kty === 'EC', 'Agent', caller, seen, refresh);
    this.checkAlg(jwk, 'The agent key', draft11 ? 'draft-11' : 'keycloak');
    const key = this.importCached(publicJwk(jwk, 'The agent JWKS'));
    this.options.checkKeyAlgorithm(key);
    // Every check above is a function of (id, kid, dwk, legacy), the options and these documents.
    if (seen !== undefined) {
      this.lastWarm = undefined;
      this.warm!.set(warmId(id, kid, dwk, legacy), { docs: seen, key });
    }
    return key;
  }

  /** The imported key of a published public JWK, from the key cache when its material was imported before. */
  private importCached(jwk: Jwk): PublicKey {
    const id = keyCacheId(jwk);
    let key = id === undefined ? undefined : this.keys.get(id);
    if (!key) {
      key = this.options.importKey(jwk);
      if (id !== undefined) this.keys.set(id, key);
    }
    return key;
  }

  /**
   * A published key's `alg` (jwkAlgProblem): -11 requires a fully specified one that agrees with its
   * `kty`/`crv` (draft-11 profile section 3); the Keycloak profile leaves it optional, but one that is
   * present agrees with the key (never none, HMAC, or another key type's), as for hwk.
   */
  private checkAlg(jwk: Jwk, what: string, generation: 'draft-11' | 'keycloak' = 'draft-11'): void {
    const problem = jwkAlgProblem(jwk, generation, generation === 'draft-11' ? { algorithms: this.options.algorithms11 } : {});
    if (problem) throw new AAuthError(problem.code, `${what}: ${problem.reason}`);
  }

  /**
   * A -11 token's signing JWK (AAuth -11 "JWKS Discovery and Caching"): `{iss}/.well-known/{dwk}`,
   * whose `issuer` is `iss` byte for byte (`issuer_missing`, `issuer_mismatch`), its `jwks_uri`,
   * the key with `kid`, which must carry `alg` equal to the token's.
   */
  async tokenJwk11(iss: string, dwk: string, kid: string | undefined, alg: string, caller?: string, refresh = false): Promise<Jwk> {
    const problem = serverIdentifierProblem(iss, { allowLoopback: this.options.allowLoopback });
    if (problem) throw new AAuthError('token_claim_invalid', `iss ${problem}`);
    if (!(DWK_11 as readonly string[]).includes(dwk)) throw new AAuthError('token_claim_invalid', `dwk ${JSON.stringify(dwk.slice(0, 100))} is not an AAuth document`);
    const { uri } = await this.document11(iss, dwk, 'token issuer', caller);
    // -11: select by kid without requiring any other member of the JWKS to be usable.
    const jwk = await this.findKey(uri, kid, (k) => typeof k.kty === 'string', `Issuer ${iss}`, caller, undefined, refresh);
    this.checkAlg(jwk, `The key ${JSON.stringify(kid ?? '')} of ${iss}`);
    if (jwk.alg !== alg) throw new AAuthError('token_signature_invalid', `The key of ${iss} is for ${showValue(jwk.alg, 20)}, the token is signed with ${showValue(alg, 20)}`);
    return publicJwk(jwk, 'The issuer JWKS', true);
  }

  /** `{id}/.well-known/{dwk}` whose `issuer` is `id` byte for byte (`issuer_missing`, `issuer_mismatch`), and its -11 `jwks_uri`. */
  private async document11(id: string, dwk: string, whose: string, caller?: string): Promise<{ uri: string; kind: string; body: Record<string, unknown> }> {
    const kind = `${dwk.slice('aauth-'.length, -'.json'.length)} metadata`;
    const meta = await this.options.fetcher.fetchJson(`${id}/.well-known/${dwk}`, { kind, caller });
    if (meta.status !== 200) throw new AAuthError('key_discovery_failed', `No ${dwk} at ${id}/.well-known/${dwk}`, { details: { url: meta.url } });
    const issuer = meta.body?.issuer;
    if (issuer === undefined) throw new AAuthError('issuer_missing', `The ${kind} has no issuer`, { details: { url: meta.url } });
    if (issuer !== id) throw new AAuthError('issuer_mismatch', `The ${kind} issuer is not the ${whose}`, { details: { url: meta.url } });
    return { uri: this.jwksUri11(meta, kind), kind, body: meta.body as Record<string, unknown> };
  }

  /** A -11 server's metadata document (`{id}/.well-known/{dwk}`), `id` a server identifier, its `issuer` and `jwks_uri` checked. */
  async serverMetadata11(id: string, dwk: string, caller?: string): Promise<Record<string, unknown>> {
    const problem = serverIdentifierProblem(id, { allowLoopback: this.options.allowLoopback });
    if (problem) throw new AAuthError('key_discovery_failed', `Server identifier ${problem}`);
    if (!(DWK_11 as readonly string[]).includes(dwk)) throw new AAuthError('key_discovery_failed', `${JSON.stringify(dwk.slice(0, 100))} is not an AAuth document`);
    return (await this.document11(id, dwk, 'server identifier', caller)).body;
  }

  /**
   * A -11 server's HTTP-signature key for `Signature-Key: sig=jwks_uri; id; dwk; kid` (server to
   * server, e.g. a person server calling an access server; -09 section 3.6): `id` a server
   * identifier, `{id}/.well-known/{dwk}` naming `id` as its `issuer`, the key with `kid` and `alg`.
   */
  async serverKey11(id: string, dwk: string, kid: string, caller?: string): Promise<PublicKey> {
    const problem = serverIdentifierProblem(id, { allowLoopback: this.options.allowLoopback });
    if (problem) throw new AAuthError('signature_key_malformed', `Signature-Key id ${problem}`);
    if (dwk === 'aauth-agent.json' || !(DWK_11 as readonly string[]).includes(dwk)) {
      throw new AAuthError('signature_key_malformed', `Signature-Key dwk ${JSON.stringify(dwk.slice(0, 100))} is not a server document`);
    }
    const { uri, kind } = await this.document11(id, dwk, 'Signature-Key id', caller);
    const jwk = await this.findKey(uri, kid, (k) => k.kty === 'OKP' || k.kty === 'EC', `Server ${id}`, caller);
    this.checkAlg(jwk, `The ${kind} key`);
    const key = this.importCached(publicJwk(jwk, `The ${kind} JWKS`));
    this.options.checkKeyAlgorithm(key);
    return key;
  }

  /** A resource's token-signing JWK: `{iss}/.well-known/aauth-resource.json` whose `resource` is `iss`. */
  async resourceJwk(iss: string, kid: string | undefined, alg?: string, caller?: string, refresh = false): Promise<Jwk> {
    const problem = structuralProblem(iss);
    if (problem) throw new AAuthError('key_discovery_failed', `Resource identity ${problem}`);
    const meta = (await this.metadata(iss, 'aauth-resource', false, caller))!;
    if (meta.body?.resource !== iss) {
      throw new AAuthError('key_discovery_failed', 'The resource metadata names another resource than the token issuer', {
        details: { url: meta.url },
      });
    }
    const uri = this.jwksUri(meta, 'Resource');
    return publicJwk(await this.findKey(uri, kid, (k) => this.acceptsForAlg(k, alg), 'Resource', caller, undefined, refresh), 'The resource JWKS');
  }

  /**
   * An issuer's token-signing JWK: local keys, else the `jwks_uri` of its AAuth issuer metadata,
   * else of its OpenID Provider metadata (a plain OAuth / OIDC issuer such as Keycloak without the
   * AAuth extension), else the Keycloak certs path. Each document must name `iss` as its issuer.
   */
  async issuerJwk(iss: string, kid: string | undefined, alg?: string, caller?: string, refresh = false): Promise<Jwk> {
    const accept = (k: Jwk): boolean => this.acceptsForAlg(k, alg);
    const local = Object.prototype.hasOwnProperty.call(this.options.localIssuerKeys, iss) ? this.options.localIssuerKeys[iss] : undefined;
    if (local) {
      const keys = (local.keys as Jwk[]).filter((k) => (k.use === undefined || k.use === 'sig') && accept(k));
      const found = kid !== undefined ? keys.find((k) => k.kid === kid) : keys.length === 1 ? keys[0] : undefined;
      if (!found) throw new AAuthError('key_not_found', `Issuer ${iss}: no local key with kid ${showValue(kid)}`);
      return publicJwk(found, 'The local issuer JWKS');
    }
    const problem = structuralProblem(iss);
    if (problem) throw new AAuthError('key_discovery_failed', `Issuer ${problem}`);
    const meta = await this.metadata(iss, 'aauth-issuer', true, caller);
    let uri: string;
    if (meta) {
      if (meta.body?.issuer !== undefined && meta.body.issuer !== iss) {
        throw new AAuthError('key_discovery_failed', 'The issuer metadata names another issuer', { details: { url: meta.url } });
      }
      uri = this.jwksUri(meta, 'Issuer');
    } else {
      uri = (await this.openIdJwksUri(iss, caller)) ?? `${iss}/protocol/openid-connect/certs`;
    }
    return publicJwk(await this.findKey(uri, kid, accept, 'Issuer', caller, undefined, refresh), 'The issuer JWKS');
  }

  /**
   * The `jwks_uri` of `{iss}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0
   * section 4), or undefined when there is none (404): then the caller tries the path where
   * Keycloak serves its realm keys (wire profile section 7). The document's `issuer` must be `iss`
   * exactly (section 4.3), or the keys of another issuer could be picked up.
   */
  private async openIdJwksUri(iss: string, caller?: string): Promise<string | undefined> {
    const doc = await this.options.fetcher.fetchJson(`${iss}/.well-known/openid-configuration`, { kind: 'OpenID Provider metadata', caller });
    if (doc.status !== 200) return undefined;
    if (doc.body?.issuer !== iss) {
      throw new AAuthError('key_discovery_failed', 'The OpenID Provider metadata names another issuer', { details: { url: doc.url } });
    }
    return this.jwksUri(doc, 'OpenID Provider');
  }

  private acceptsForAlg(k: Jwk, alg: string | undefined): boolean {
    if (!algMatchesKey(alg, k)) return false;
    if (alg !== undefined && typeof k.alg === 'string' && !sameAlg(k.alg, alg)) return false;
    return k.kty === 'RSA' || k.kty === 'EC' || k.kty === 'OKP';
  }
}

import { AAuthError, signRequest, type SigningKey } from '@aauth-kit/core';
import { isLocalHostname, serverIdentifierProblem } from '@aauth-kit/core/internal';
import { createDocumentFetcher, fetchLimited, type DiscoveryOptions } from '@aauth-kit/discovery';
import type { ServerContext } from '../context.js';

// The person server's side of pushed revocation (AAuth -11 "Revocation Cascade": "PS revokes a
// person token it issued" / "an auth token it issued"): tell the resource in the token's `aud`,
// at the `revocation_endpoint` of its metadata, with `{jti, exp}` signed as this person server
// under sig=jwks_uri. Every outbound request goes through the discovery egress policy.

/** How one push ended (AAuth -11 "Revocation Response": a downstream revocation's terminal outcomes). */
export type PushOutcome = 'recorded' | 'revocation_unsupported' | 'revocation_unavailable';

export interface RevocationPushConfig {
  /** The person server's identifier: the `id` of its signatures, the `iss` of what it revokes. */
  issuer: string;
  /** Its signing key (published in its JWKS with `alg`). */
  key: SigningKey;
  /** The metadata document it signs through (`dwk`): a person server's (default) or an access server's. */
  dwk?: 'aauth-person.json' | 'aauth-access.json' | undefined;
  /** Accept http and a port on loopback hosts in the resource identifier (development only). */
  allowLoopback: boolean;
  /** Fetch used for the metadata and the POST; default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** The egress policy and limits (the verifier's `discovery` options). */
  discovery?: DiscoveryOptions | undefined;
}

/** The pusher: `push()` never throws; it answers how the push ended and audits it. */
export interface RevocationPusher {
  /**
   * Push `{jti, exp}` to `resource`'s revocation endpoint. `to` names the recipient's metadata
   * document: a resource's (default), or an access server's when a person server forwards a person
   * token revocation to the access servers it presented the token to (AAuth -11 "Who Revokes What").
   */
  push(token: { jti: string; exp: number; resource: string; agent?: string | undefined; to?: 'aauth-resource.json' | 'aauth-access.json' | undefined }): Promise<PushOutcome>;
}

/** How the recipient is named in a reason: `the resource` or `the access server`. */
const whoOf = (document: string): string => (document === 'aauth-access.json' ? 'the access server' : 'the resource');

/** Most time one push may take, metadata and POST together (the revocation answer waits for it). */
const PUSH_TIMEOUT_MS = 3000;

export function createRevocationPusher(ctx: ServerContext, config: RevocationPushConfig): RevocationPusher {
  const { issuer, key, allowLoopback } = config;
  const dwk = config.dwk ?? 'aauth-person.json';
  const discovery = config.discovery ?? {};
  const timeoutMs = Math.min(discovery.timeoutMs ?? PUSH_TIMEOUT_MS, PUSH_TIMEOUT_MS);
  const fetcher = createDocumentFetcher({ ...discovery, timeoutMs, fetch: config.fetch, now: ctx.now }, 'options.discovery');

  const audit = (resource: string, jti: string, agent: string | undefined, error?: PushOutcome, reason?: string): void =>
    ctx.audit({
      type: 'revocation.pushed',
      time: ctx.now(),
      endpoint: 'token',
      resource,
      jti,
      ...(agent === undefined ? {} : { agent }),
      ...(error === undefined ? {} : { error, reason: reason ?? error }),
    });

  /** The resource's `revocation_endpoint`, or why it has none we may use. */
  async function endpointOf(resource: string, document: string): Promise<URL | string> {
    const meta = await fetcher.fetchJson(`${resource}/.well-known/${document}`, { kind: document === 'aauth-access.json' ? 'access server metadata' : 'resource metadata' });
    if (meta.status !== 200) return `${whoOf(document)} publishes no ${document}`;
    if (meta.body?.issuer !== resource) return `${whoOf(document)} metadata issuer is not the ${document === 'aauth-access.json' ? 'access server' : 'resource'} identifier`;
    const endpoint = meta.body.revocation_endpoint;
    if (endpoint === undefined) return `${whoOf(document)} metadata has no revocation_endpoint`;
    let url: URL;
    try {
      url = new URL(String(endpoint));
    } catch {
      return `${whoOf(document)} revocation_endpoint is not an absolute URL`;
    }
    if (url.hash !== '' || url.username !== '' || url.password !== '') return `${whoOf(document)} revocation_endpoint has a fragment or credentials`;
    // The egress policy lets plain http and local names through (the Keycloak profile's development
    // set-ups); in -11 that is allowLoopback's alone, as for a jwks_uri: a party's document must not
    // point this server at its own loopback services (draft-11 profile section 10).
    const local = isLocalHostname(url.hostname);
    if (!allowLoopback && (local || url.protocol !== 'https:')) return `${whoOf(document)} revocation_endpoint must be https on a non-loopback host (allowLoopback is off)`;
    if (url.protocol !== 'https:' && !local) return `${whoOf(document)} revocation_endpoint must be https (http only on loopback hosts)`;
    return url;
  }

  /** One attempt: the metadata, then the signed POST; its outcome and, when it did not record, why. */
  async function attempt(jti: string, exp: number, resource: string, document: string, postTimeoutMs: number): Promise<[PushOutcome, string?]> {
    // The aud of a token this server issued was checked when it was issued; checked again before any fetch.
    if (serverIdentifierProblem(resource, { allowLoopback }) !== undefined) return ['revocation_unsupported', 'the resource is not a server identifier'];
    const endpoint = await endpointOf(resource, document);
    // No revocation endpoint: the resource honours the token until its exp (-11 "Revocation Response").
    if (typeof endpoint === 'string') return ['revocation_unsupported', endpoint];
    const body = Buffer.from(JSON.stringify({ jti, exp }));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    // Signed as this server (AAuth -11 "Keying Material"), covering content-type and content-digest.
    const signed = signRequest(
      { method: 'POST', url: endpoint.href, headers, body },
      { key, signatureKey: { scheme: 'jwks_uri', id: issuer, dwk, kid: key.kid }, signatureKeyForm: 'dictionary', now: ctx.now },
    );
    const answer = await fetchLimited(endpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body }, { ...discovery, fetch: config.fetch, timeoutMs: postTimeoutMs, maxBytes: 16 * 1024, maxRedirects: 0 });
    if (answer.status === 200) return ['recorded'];
    const error = problemError(answer.body);
    if (answer.status === 403 && error === 'unsupported_iss') return ['revocation_unsupported', `${whoOf(document)} does not accept revocations from this ${dwk === 'aauth-access.json' ? 'access' : 'person'} server`];
    return ['revocation_unavailable', `${whoOf(document)} answered ${answer.status}${error === undefined ? '' : ` ${error}`}`];
  }

  async function push(token: Parameters<RevocationPusher['push']>[0]): Promise<PushOutcome> {
    const { jti, exp, resource, agent } = token;
    const document = token.to ?? 'aauth-resource.json';
    // An access server answers once its own pushes to its resources are terminal: wait for those too.
    const cascade = document === 'aauth-access.json';
    const limitMs = cascade ? 3 * timeoutMs : timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    // One deadline for the metadata and the POST together: the revocation answer waits at most this long.
    const deadline = new Promise<[PushOutcome, string]>((resolve) => {
      timer = setTimeout(() => resolve(['revocation_unavailable', `${whoOf(document)} did not answer within ${limitMs} ms`]), limitMs);
    });
    let outcome: PushOutcome;
    let reason: string | undefined;
    try {
      [outcome, reason] = await Promise.race([attempt(jti, exp, resource, document, cascade ? 2 * timeoutMs : timeoutMs), deadline]);
    } catch (error) {
      outcome = 'revocation_unavailable';
      reason = (error instanceof AAuthError ? error.message : 'the push failed').slice(0, 300);
    } finally {
      clearTimeout(timer);
    }
    audit(resource, jti, agent, outcome === 'recorded' ? undefined : outcome, reason);
    return outcome;
  }

  return { push };
}

/** The `error` member of a problem+json answer, when it has one. */
function problemError(body: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as unknown;
    const error = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).error : undefined;
    return typeof error === 'string' ? error.slice(0, 100) : undefined;
  } catch {
    return undefined;
  }
}

import { AAuthError, AUTH_TOKEN_11, computeThumbprint, parseScope, signRequest, type SigningKey } from '@aauth-kit/core';
import type { Verifier } from '@aauth-kit/verifier';

// The person server's side of four-party (AAuth -11 "PS-AS Federation", "Auth Token Delivery";
// checklist AS-21, AS-22): discover the access server named by the resource token's `aud`, POST
// it the token request signed as this person server, and check the auth token before the agent sees it.

/** An access server's refusal, relayed to the agent with its `error` value and status (AS-22). */
export class RelayedRefusal extends AAuthError {
  constructor(status: number, error: string, detail: string) {
    super('access_server_refused', detail, { status });
    // The access server's own code, not the kit's table's: the agent reads what the AS said.
    Object.defineProperty(this, 'error', { value: error, enumerable: true });
  }
}

/** What the person server sends and what it expects back. */
export interface FederationRequest {
  /** The access server: the resource token's `aud`. */
  accessServer: string;
  resourceToken: string;
  agentToken: string;
  presentedToken?: string | undefined;
  upstreamToken?: string | undefined;
  /** The resource token's claims the answer is checked against. */
  resource: string;
  sub: string;
  scope: string;
  /** The agent's key thumbprint (`cnf.jwk` of the answer). */
  agentJkt: string;
  /** No token the agent gets outlives this (the agent token's, the person and upstream tokens' `exp`). */
  expCap: number;
  /** Who asked, for key discovery limits. */
  caller?: string | undefined;
}

export interface FederationConfig {
  /** This person server's identifier (`id` of its signature, `ps` of the answer). */
  issuer: string;
  key: SigningKey;
  /** Fetches and checks the access server's metadata and keys (egress policy, caches). */
  verifier: Verifier;
  allowLoopback: boolean;
  /** Access servers federated to (`aauth.person.trusted.access.servers`); empty: none, four-party is off. */
  trustedAccessServers: readonly string[];
  fetch: typeof fetch;
  now: () => number;
  /** Longest wait for the access server's answer, milliseconds; default 10000. */
  timeoutMs?: number | undefined;
}

/** As_unreachable (502): the agent may retry with a fresh resource token after a backoff (AS-22). */
const unreachable = (why: string, cause?: unknown) => new AAuthError('as_unreachable', `The access server could not issue the token: ${why}`, cause === undefined ? {} : { cause });

/** The four-party federation of one person server. */
export function createFederation(config: FederationConfig) {
  const { issuer, key, verifier, allowLoopback, trustedAccessServers } = config;
  const timeoutMs = config.timeoutMs ?? 10_000;

  /** Refuse an access server the person server does not federate to, before anything is fetched from it. */
  function checkTrusted(accessServer: string): void {
    if (!trustedAccessServers.includes(accessServer)) {
      throw new AAuthError('resource_token_invalid', `resource_token: aud ${accessServer} is neither this person server nor an access server it federates to (realm attribute aauth.person.trusted.access.servers)`);
    }
  }

  async function federate(request: FederationRequest): Promise<Record<string, unknown>> {
    checkTrusted(request.accessServer);
    let endpoint: string;
    try {
      const metadata = await verifier.resolveServerMetadata(request.accessServer, 'aauth-access.json', request.caller);
      endpoint = String(metadata.auth_token_endpoint);
      // The endpoint is the access server's own: never a request to another origin on its say-so.
      if (new URL(endpoint).origin !== request.accessServer) throw new Error(`auth_token_endpoint ${endpoint.slice(0, 200)} is not on ${request.accessServer}`);
    } catch (error) {
      throw unreachable(`its metadata (${(error as Error).message})`, error);
    }

    const body = JSON.stringify({
      resource_token: request.resourceToken,
      agent_token: request.agentToken,
      ...(request.presentedToken !== undefined ? { presented_token: request.presentedToken } : {}),
      ...(request.upstreamToken !== undefined ? { upstream_token: request.upstreamToken } : {}),
    });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    // Signed as this person server (sig=jwks_uri, id, dwk aauth-person.json), content-type and content-digest covered.
    const signed = signRequest(
      { method: 'POST', url: endpoint, headers, body },
      { key, signatureKey: { scheme: 'jwks_uri', id: issuer, dwk: 'aauth-person.json', kid: key.kid }, nonce: true, now: config.now },
    );
    let res: Response;
    let text: string;
    try {
      res = await config.fetch(endpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      text = (await res.text()).slice(0, 64 * 1024);
    } catch (error) {
      throw unreachable(`no answer from ${endpoint} (${(error as Error).message})`, error);
    }
    let answer: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) answer = parsed as Record<string, unknown>;
    } catch {
      answer = undefined;
    }
    if (res.status !== 200) {
      // A terminal refusal of the AS (4xx with a code) is relayed; anything else is as_unreachable.
      const code = answer?.error;
      if (res.status >= 400 && res.status < 500 && res.status !== 401 && typeof code === 'string' && /^[a-z_]{1,64}$/.test(code)) {
        const detail = typeof answer?.detail === 'string' ? answer.detail.slice(0, 500) : `The access server refused with ${code}`;
        throw new RelayedRefusal(res.status, code, `The access server ${request.accessServer} refused: ${detail}`);
      }
      // A 401 is the AS refusing this person server's signature: not the agent's to repair.
      throw unreachable(`${endpoint} answered ${res.status}${typeof code === 'string' ? ` ${code.slice(0, 64)}` : ''}`);
    }
    const token = answer?.auth_token;
    if (typeof token !== 'string') throw unreachable('its answer has no auth_token');

    // Auth Token Delivery: verify before the agent sees it.
    let claims: Record<string, unknown>;
    try {
      claims = (await verifier.verifyToken(token, AUTH_TOKEN_11, { audience: request.resource, issuers: [request.accessServer], allowLoopback, caller: request.caller })).claims;
    } catch (error) {
      throw unreachable(`its auth token does not verify (${(error as Error).message})`, error);
    }
    const problem = deliveryProblem(claims, request, issuer);
    if (problem !== undefined) throw unreachable(`its auth token ${problem}`);
    const expiresIn = Math.max(0, Number(claims.exp) - Math.floor(config.now()));
    return { auth_token: token, expires_in: expiresIn };
  }

  return { federate, checkTrusted };
}

/** What is wrong with an access server's auth token for this request, or undefined (Auth Token Delivery; AS-20, AS-21). */
export function deliveryProblem(claims: Record<string, unknown>, request: FederationRequest, issuer: string): string | undefined {
  if (claims.iss !== request.accessServer) return `has iss ${String(claims.iss).slice(0, 200)}, not ${request.accessServer}`;
  if (claims.dwk !== 'aauth-access.json') return 'has no dwk "aauth-access.json"';
  if (claims.aud !== request.resource) return `has aud ${String(claims.aud).slice(0, 200)}, not the resource ${request.resource}`;
  if (claims.ps !== issuer) return `has ps ${String(claims.ps).slice(0, 200)}, not this person server`;
  if (claims.sub !== request.sub) return 'has another sub than the resource token';
  const jwk = (claims.cnf as { jwk?: unknown } | undefined)?.jwk;
  let jkt: string | undefined;
  try {
    jkt = jwk === undefined ? undefined : computeThumbprint(jwk as never);
  } catch {
    jkt = undefined;
  }
  if (jkt !== request.agentJkt) return "is not bound (cnf.jwk) to the agent's key";
  const asked = new Set(parseScope(request.scope));
  const broader = claims.scope === undefined ? [] : parseScope(String(claims.scope)).filter((s) => !asked.has(s));
  if (broader.length > 0) return `grants ${broader.join(' ')}, beyond the resource token's scope`;
  if (Number(claims.exp) > request.expCap) return 'outlives the agent token or the tokens presented (exp)';
  return undefined;
}

export type Federation = ReturnType<typeof createFederation>;

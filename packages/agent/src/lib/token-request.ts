import { AAuthError, type AAuthErrorCode, computeThumbprint, decodeToken, parseChallenge, tokenKind } from '@aauth-kit/core';
import { buildSignedRequest, type SignerConfig } from '../build-signed-request.js';
import type { AgentEvent, Interaction } from '../types.js';
import { downstreamStatus } from './downstream-status.js';
import { jsonObject, limitedFetch, redact, type LimitedResponse } from './http.js';
import type { IssuerMetadata } from './issuer-metadata.js';

/** What the token request needs from the agent. */
export interface TokenRequestConfig {
  signer: Omit<SignerConfig, 'scheme' | 'authToken'>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  timeoutMs: number;
  maxBytes: number;
  interactionTimeoutMs: number;
  onInteraction: ((interaction: Interaction) => void | Promise<void>) | undefined;
  interactionCallback: string | undefined;
  emit: (event: AgentEvent) => void;
}

/** One token request: where to, what to send, and which scheme signs it. */
export interface TokenRequest {
  metadata: IssuerMetadata;
  resourceToken: string;
  upstreamToken?: string | undefined;
  /** The agent's own scheme for this request (section 8: `jwks_uri`, or `hwk`). */
  signAs: 'jwks_uri' | 'hwk';
  transport: typeof fetch;
}

/** An auth token the auth server issued. */
export interface IssuedToken {
  token: string;
  /** Epoch seconds. */
  expiresAt: number;
}

/** The time polls wait when a 202 carries no usable `Retry-After`, seconds. */
const DEFAULT_POLL_INTERVAL = 5;
const MAX_POLL_INTERVAL = 300;

async function signedSend(
  request: Pick<TokenRequest, 'signAs' | 'transport'>,
  config: TokenRequestConfig,
  method: 'POST' | 'GET',
  url: URL,
  headers: Record<string, string>,
  body?: Uint8Array,
): Promise<LimitedResponse> {
  const signed = buildSignedRequest({ method, url, headers, body: body ?? null }, { ...config.signer, scheme: request.signAs });
  return limitedFetch(request.transport, url, { method, headers: signed.headers, ...(body ? { body } : {}) }, {
    timeoutMs: config.timeoutMs,
    maxBytes: config.maxBytes,
    code: 'auth_server_error',
    // A pending URL is polled where it is; the token endpoint is never redirected (it has a body).
    maxRedirects: 0,
  });
}

/** Turn an auth server's error answer into an `AAuthError` carrying its `error` and description. */
export function refusal(response: LimitedResponse, code: AAuthErrorCode = 'auth_server_error', what = 'the token request'): AAuthError {
  const doc = jsonObject(response.body);
  const error = typeof doc?.error === 'string' ? redact(doc.error) : undefined;
  const description = typeof doc?.error_description === 'string' ? redact(doc.error_description) : undefined;
  const summary = [error, description].filter(Boolean).join(': ');
  return new AAuthError(code, `The auth server refused ${what} (HTTP ${response.status}${summary ? `, ${summary}` : ''})`, {
    // pending_not_found is the auth server's 404; for the agent's caller a downstream call failed.
    status: downstreamStatus(code),
    details: { status: response.status, error, error_description: description },
  });
}

function parseIssued(response: LimitedResponse, config: TokenRequestConfig): IssuedToken {
  const doc = jsonObject(response.body);
  const token = doc?.auth_token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new AAuthError('auth_server_error', 'The auth server answered 200 without an auth_token');
  }
  let claims: Record<string, unknown>;
  let header: Record<string, unknown>;
  try {
    ({ header, claims } = decodeToken(token));
  } catch {
    throw new AAuthError('auth_server_error', 'The auth server issued an auth_token that is not a well-formed JWT');
  }
  if (tokenKind(header.typ) !== 'auth') {
    throw new AAuthError('auth_server_error', `The auth server issued a token of typ ${JSON.stringify(header.typ)}, not auth+jwt`);
  }
  // Section 7: the token is bound to the signer's key; one bound elsewhere would never verify.
  const cnf = claims.cnf as { jwk?: unknown } | undefined;
  if (cnf?.jwk !== undefined) {
    let thumbprint: string | undefined;
    try {
      thumbprint = computeThumbprint(cnf.jwk);
    } catch {
      thumbprint = undefined;
    }
    if (thumbprint !== config.signer.key.thumbprint) {
      throw new AAuthError('auth_server_error', "The auth server issued a token bound (cnf.jwk) to another key than this agent's");
    }
  }
  const now = config.now();
  const candidates: number[] = [];
  if (typeof claims.exp === 'number') candidates.push(claims.exp);
  if (typeof doc?.expires_in === 'number' && doc.expires_in > 0) candidates.push(now + doc.expires_in);
  const expiresAt = candidates.length > 0 ? Math.min(...candidates) : now + 60;
  return { token, expiresAt };
}

function retryAfterSeconds(headers: Headers, now: number): number {
  const value = headers.get('retry-after')?.trim();
  let seconds = DEFAULT_POLL_INTERVAL;
  if (value !== undefined && /^\d+$/.test(value)) seconds = Number(value);
  else if (value !== undefined && !Number.isNaN(Date.parse(value))) seconds = Date.parse(value) / 1000 - now;
  // Section 8: pollers wait at least 1 s between polls.
  return Math.min(MAX_POLL_INTERVAL, Math.max(1, seconds));
}

async function awaitInteraction(
  first: LimitedResponse,
  request: TokenRequest,
  config: TokenRequestConfig,
): Promise<IssuedToken> {
  const doc = jsonObject(first.body);
  const locationText = first.headers.get('location') ?? (typeof doc?.location === 'string' ? doc.location : undefined);
  if (locationText === undefined) throw new AAuthError('auth_server_error', 'The auth server answered 202 without a Location');
  let location: URL;
  try {
    location = new URL(locationText, request.metadata.tokenEndpoint);
  } catch {
    throw new AAuthError('auth_server_error', 'The auth server answered 202 with an invalid Location');
  }
  // Polls are signed with the agent's key: never send them to another origin.
  if (location.origin !== request.metadata.tokenEndpoint.origin) {
    throw new AAuthError('auth_server_error', `The auth server's pending Location is on another origin (${location.origin})`);
  }
  let code: string | undefined;
  try {
    code = parseChallenge(first.headers)?.code;
  } catch {
    code = undefined;
  }
  code ??= typeof doc?.code === 'string' ? doc.code : undefined;
  if (code === undefined) throw new AAuthError('auth_server_error', 'The auth server answered 202 without an interaction code');
  if (request.metadata.interactionEndpoint === undefined) {
    throw new AAuthError('auth_server_discovery_failed', `${request.metadata.issuer} asks for an interaction but its metadata has no interaction_endpoint`);
  }
  const url = new URL(request.metadata.interactionEndpoint);
  url.searchParams.set('code', code);
  if (config.interactionCallback !== undefined) url.searchParams.set('callback', config.interactionCallback);

  if (config.onInteraction === undefined) {
    throw new AAuthError('interaction_required', `A user must approve this request at ${url.href}`, {
      details: { url: url.href, code },
    });
  }
  config.emit({ type: 'interaction', authServer: request.metadata.issuer, url: url.href, code });
  await config.onInteraction({ url: url.href, code, location: location.href });

  const deadline = config.now() + config.interactionTimeoutMs / 1000;
  let wait = retryAfterSeconds(first.headers, config.now());
  for (;;) {
    const remaining = deadline - config.now();
    if (remaining <= 0) {
      throw new AAuthError('interaction_timeout', `The user did not approve within ${Math.round(config.interactionTimeoutMs / 1000)} s`);
    }
    await config.sleep(Math.min(wait, remaining) * 1000);
    const poll = await signedSend(request, config, 'GET', location, { accept: 'application/json' });
    switch (poll.status) {
      case 200:
        return parseIssued(poll, config);
      case 202:
        wait = retryAfterSeconds(poll.headers, config.now());
        continue;
      case 403:
        throw refusal(poll, 'interaction_denied', 'the pending request');
      case 408:
        throw refusal(poll, 'interaction_expired', 'the pending request');
      case 404:
        throw refusal(poll, 'pending_not_found', 'the pending request');
      default:
        throw refusal(poll, 'auth_server_error', 'the pending request');
    }
  }
}

/** A signed JSON POST to the token endpoint, covering the body, with `Prefer: wait=45` (section 8). */
function postToTokenEndpoint(
  request: Parameters<typeof signedSend>[0] & { metadata: IssuerMetadata },
  config: TokenRequestConfig,
  payload: Record<string, string>,
): ReturnType<typeof signedSend> {
  return signedSend(
    request,
    config,
    'POST',
    request.metadata.tokenEndpoint,
    { 'content-type': 'application/json', accept: 'application/json', prefer: 'wait=45' },
    Buffer.from(JSON.stringify(payload), 'utf8'),
  );
}

/**
 * POST `{resource_token}` or `{resource_token, upstream_token}` to the token endpoint, signed with
 * the agent's own key and covering the body (wire profile section 8); answer a 202 with the
 * interaction and polling. Returns the auth token or throws an `AAuthError` naming the refusal.
 */
export async function requestAuthToken(request: TokenRequest, config: TokenRequestConfig): Promise<IssuedToken> {
  const payload: Record<string, string> = { resource_token: request.resourceToken };
  if (request.upstreamToken !== undefined) payload.upstream_token = request.upstreamToken;
  const response = await postToTokenEndpoint(request, config, payload);
  if (response.status === 200) return parseIssued(response, config);
  if (response.status === 202) return awaitInteraction(response, request, config);
  throw refusal(response);
}

/** A refresh: the cached auth token goes back to the issuer that minted it. */
export interface RefreshRequest {
  metadata: IssuerMetadata;
  /** The expired or expiring auth token. Never log it. */
  authToken: string;
  /** The scheme the original token request was signed with (the same key must sign the refresh). */
  signAs: 'jwks_uri' | 'hwk';
  transport: typeof fetch;
}

/**
 * POST `{auth_token}` to the token endpoint, signed with the agent's own key (wire profile section
 * 8, refresh). Only a 200 with a valid auth token succeeds; anything else (an error answer, or a
 * 202 asking for an interaction) throws an `AAuthError`, and the caller falls back to a challenge.
 */
export async function refreshAuthToken(request: RefreshRequest, config: TokenRequestConfig): Promise<IssuedToken> {
  const response = await postToTokenEndpoint(request, config, { auth_token: request.authToken });
  if (response.status === 200) return parseIssued(response, config);
  throw refusal(response, 'auth_server_error', 'the refresh');
}

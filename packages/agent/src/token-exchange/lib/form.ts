import { randomBytes } from 'node:crypto';
import { AAuthError, signJwt } from '@aauth-kit/core';
import type { TokenExchangeHttpRequest } from '../types.js';
import type { ResolvedTarget } from './options.js';

const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The tokens and per-call values of one exchange. */
export interface ExchangeInput {
  subjectToken: string | undefined | null;
  actorToken?: string | undefined | null;
  /** Overrides the target's scope (already normalised). */
  scope?: string | undefined;
}

/** RFC 6749 Appendix B: the application/x-www-form-urlencoded encoding of one value. */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/** Refuse a missing subject token before anything is sent (issue 8). */
export function requireSubjectToken(token: unknown): string {
  if (typeof token !== 'string' || token.length === 0) {
    throw new AAuthError('exchange_subject_token_missing', 'There is no subject token (the user\'s token) to exchange; nothing was sent');
  }
  return token;
}

/**
 * Build the token request for `target` (RFC 8693 section 2.1, or Entra's on-behalf-of request),
 * with client authentication (RFC 6749 section 2.3, RFC 7523 section 2.2). Sends nothing.
 */
export async function buildExchangeForm(target: ResolvedTarget, input: ExchangeInput, now: () => number): Promise<TokenExchangeHttpRequest> {
  const subjectToken = requireSubjectToken(input.subjectToken);
  const actorToken = input.actorToken === undefined || input.actorToken === null || input.actorToken === '' ? undefined : input.actorToken;
  if (actorToken !== undefined && typeof actorToken !== 'string') throw new TypeError('The actor token must be a string');
  const scope = input.scope ?? target.scope;
  const form = new URLSearchParams();
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const { auth } = target;

  const clientFields = (): void => {
    if (auth.method !== 'client_secret_basic') form.append('client_id', target.clientId);
    if (auth.method === 'client_secret_post') form.append('client_secret', auth.clientSecret);
  };

  if (target.profile === 'entra-obo') {
    if (actorToken !== undefined) throw new TypeError('The entra-obo profile has no actor token');
    // Entra ID on-behalf-of: the jwt-bearer grant (RFC 7523 section 2.1) with Microsoft's requested_token_use.
    form.append('grant_type', GRANT_JWT_BEARER);
    clientFields();
    form.append('assertion', subjectToken);
    if (scope !== undefined) form.append('scope', scope);
    form.append('requested_token_use', 'on_behalf_of');
  } else {
    form.append('grant_type', GRANT_TOKEN_EXCHANGE);
    clientFields();
    form.append('subject_token', subjectToken);
    form.append('subject_token_type', target.subjectTokenType);
    if (actorToken !== undefined) {
      // RFC 8693 section 2.1: actor_token_type is required when actor_token is present.
      form.append('actor_token', actorToken);
      form.append('actor_token_type', target.actorTokenType);
    }
    if (target.requestedTokenType !== undefined) form.append('requested_token_type', target.requestedTokenType);
    for (const audience of target.audience) form.append('audience', audience);
    for (const resource of target.resource) form.append('resource', resource);
    if (scope !== undefined) form.append('scope', scope);
  }
  for (const [name, value] of target.extraParams) form.append(name, value);

  if (auth.method === 'client_secret_basic') {
    // RFC 6749 section 2.3.1: each of id and secret is form-urlencoded before it is joined and base64-encoded.
    const credentials = `${formEncode(target.clientId)}:${formEncode(auth.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
  } else if (auth.method === 'private_key_jwt') {
    const iat = Math.floor(now());
    // RFC 7523 section 3: iss = sub = client id, aud = the token endpoint, a unique jti, a short exp.
    const assertion = await signJwt(auth.key, { typ: 'JWT' }, {
      iss: target.clientId,
      sub: target.clientId,
      aud: auth.audience ?? target.tokenEndpoint.href,
      jti: randomBytes(16).toString('base64url'),
      iat,
      exp: iat + (auth.lifetime ?? 60),
    });
    form.append('client_assertion_type', CLIENT_ASSERTION_TYPE);
    form.append('client_assertion', assertion);
  }
  return { url: new URL(target.tokenEndpoint.href), headers, body: form.toString() };
}

import {
  type AAuthErrorCode,
  type Challenge,
  type HeadersInput,
  type ResourceTokenClaims,
  checkResourceTokenClaims,
  decodeToken,
  isAAuthError,
  parseChallenge,
  tokenKind,
} from '@aauth-kit/core';
import type { SignatureScheme } from './types.js';

/** What the agent knows about itself when it reads a challenge. */
export interface ChallengeContext {
  /** The agent identity URL, if it has one. */
  identity?: string | undefined;
  /** RFC 7638 thumbprint of the agent's key. */
  thumbprint: string;
  /** Issuers the agent will contact (exact match). */
  trustedAuthServers: readonly string[];
  /** Epoch seconds. */
  now: number;
  /** How the challenged request was signed. */
  signedWith: SignatureScheme;
  /**
   * The URL whose response this is (after redirects): the resource token's `iss` must be a resource
   * on its origin, so a resource cannot obtain (or be shown) the agent's token for another one.
   */
  url: string | URL;
}

/** The decision for one response; nothing here touches the network. */
export type ChallengeDecision =
  /** Not a 401, or a 401 without an AAuth challenge: hand the response back. */
  | { action: 'ignore' }
  /** A challenge the agent already answered as well as it can (e.g. its signature failed): hand it back. */
  | { action: 'return'; challenge: Challenge }
  /** A challenge the agent must not follow: throw `AAuthChallengeError` with this code. */
  | { action: 'reject'; challenge: Challenge | undefined; code: AAuthErrorCode; message: string }
  /** Take `resourceToken` to `authServer` and retry with the auth token. */
  | {
      action: 'exchange';
      challenge: Challenge;
      resourceToken: string;
      claims: ResourceTokenClaims;
      authServer: string;
      /** The resource identity (the resource token's `iss`), on the origin that answered the challenge. */
      resource: string;
      scope: string;
      /** Sign the token request as the identity the resource token names (section 8). */
      signAs: 'jwks_uri' | 'hwk';
    };

/** The origin of an absolute http(s) URL; undefined for anything else. */
function originOf(url: string | URL): string | undefined {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

const reject = (challenge: Challenge | undefined, code: AAuthErrorCode, message: string): ChallengeDecision => ({
  action: 'reject',
  challenge,
  code,
  message,
});

/**
 * Decide what to do with a resource's response (wire profile sections 5 and 6): only a 401 with an
 * `AAuth`, `AAuth-Requirement` or `Agent-Auth` challenge whose resource token names this agent, a
 * resource on the origin that answered (`context.url`) and a trusted auth server leads to a token
 * request. Pure: every refusal happens before any network.
 */
export function assessChallenge(response: { status: number; headers: HeadersInput }, context: ChallengeContext): ChallengeDecision {
  if (response.status !== 401) return { action: 'ignore' };
  let challenge: Challenge | undefined;
  try {
    challenge = parseChallenge(response.headers);
  } catch (error) {
    if (isAAuthError(error)) return reject(undefined, error.code, error.message);
    throw error;
  }
  if (challenge === undefined) return { action: 'ignore' };

  switch (challenge.require) {
    case 'auth-token':
      break;
    case 'identity':
      // Section 5: an hwk signer cannot become an identity without one.
      if (context.identity === undefined) {
        return reject(challenge, 'challenge_unsatisfiable', 'The resource requires an agent identity and this agent is pseudonymous');
      }
      return { action: 'return', challenge };
    case 'pseudonym':
      return { action: 'return', challenge };
    default:
      return reject(challenge, 'challenge_unsatisfiable', `The resource requires ${JSON.stringify(challenge.require)}, which this agent cannot provide`);
  }

  const resourceToken = challenge.resourceToken;
  if (resourceToken === undefined || resourceToken.length === 0) {
    return reject(challenge, 'challenge_missing_resource_token', 'The auth-token challenge carries no resource token');
  }
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    ({ header, claims } = decodeToken(resourceToken));
  } catch {
    return reject(challenge, 'token_malformed', 'The resource token in the challenge is not a well-formed JWT');
  }
  if (tokenKind(header.typ) !== 'resource') {
    return reject(challenge, 'token_typ_invalid', `The challenge's token has typ ${JSON.stringify(header.typ)}, not resource+jwt`);
  }
  try {
    checkResourceTokenClaims(claims);
  } catch (error) {
    if (isAAuthError(error)) return reject(challenge, error.code, error.message);
    throw error;
  }
  const rt = claims as unknown as ResourceTokenClaims;

  // Sections 1, 3 and 6: a resource mints resource tokens naming its own identity URL, and only for
  // requests signed for its own `@authority`, so a genuine challenge names a resource on the origin
  // that answered. One naming another resource (forged, or that resource's own token replayed) asks
  // for someone else's token: it is never looked up in the cache nor taken to an auth server.
  const answered = originOf(context.url);
  if (answered === undefined || originOf(String(rt.iss)) !== answered) {
    return reject(
      challenge,
      'challenge_resource_mismatch',
      `The resource token names the resource ${JSON.stringify(String(rt.iss).slice(0, 200))}, but ${answered ?? 'another origin'} answered the challenge`,
    );
  }

  // Section 6: `agent` is the caller's identity or `pseudonymous:<thumbprint>`; `agent_jkt` its key.
  const pseudonym = `pseudonymous:${context.thumbprint}`;
  if (rt.agent !== context.identity && rt.agent !== pseudonym) {
    return reject(challenge, 'resource_token_not_for_agent', `The resource token was issued to ${JSON.stringify(rt.agent)}, not to this agent`);
  }
  if (rt.agent_jkt !== context.thumbprint) {
    return reject(challenge, 'resource_token_not_for_agent', "The resource token's agent_jkt is not this agent's key thumbprint");
  }
  if (rt.exp <= context.now) {
    return reject(challenge, 'token_expired', `The resource token expired ${Math.round(context.now - rt.exp)} s ago`);
  }

  // Section 11: without an auth-server parameter the resource token's `aud` names the server.
  const authServer = challenge.authServer ?? rt.aud;
  if (authServer !== rt.aud) {
    return reject(challenge, 'challenge_malformed', `The challenge names auth server ${JSON.stringify(authServer)} but the resource token is for ${JSON.stringify(rt.aud)}`);
  }
  if (!context.trustedAuthServers.includes(authServer)) {
    return reject(
      challenge,
      'auth_server_untrusted',
      `The challenge names auth server ${JSON.stringify(authServer)}, which this agent does not trust: if it is yours, add it to the agent's trustedAuthServers (or make it the agent's authServer)`,
    );
  }
  return {
    action: 'exchange',
    challenge,
    resourceToken,
    claims: rt,
    authServer,
    resource: rt.iss,
    scope: rt.scope,
    signAs: rt.agent === context.identity ? 'jwks_uri' : 'hwk',
  };
}

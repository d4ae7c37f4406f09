import { AAuthError, isAAuthError } from '@aauth-kit/core';
import type { VerifiedToken } from '@aauth-kit/verifier';
import type { ServerContext } from './context.js';
import { chainAgents } from './policy.js';

/** What the agent must redo after a revocation: whose grant, for which user, at which issuer. */
export interface Reconnect {
  /** The issuer whose token was revoked. */
  issuer: string;
  /** The agent the revoked token was issued to: its grant is the one to redo. */
  agent?: string | undefined;
  /** The user (`sub`) the token acted for: the person who must consent again. */
  user?: string | undefined;
}

/**
 * `grant_revoked` (400 `invalid_grant`, issue 17): the token a refresh or an exchange continues was
 * revoked. The body adds `reconnect` ({@link Reconnect}), so the agent can say what to redo
 * (RFC 6749 section 5.2 lets an error response carry more members).
 */
export class GrantRevokedError extends AAuthError {
  readonly reconnect: Reconnect;

  constructor(message: string, reconnect: Reconnect) {
    super('grant_revoked', message, { details: { reconnect } });
    this.reconnect = reconnect;
  }

  override toJSON(): { error: string; error_description: string; reconnect: Reconnect } {
    return { ...super.toJSON(), reconnect: this.reconnect };
  }
}

/**
 * Issue 17: refuse a token that was revoked by its `jti`, by an agent of its chain, or by the
 * user's withdrawn grant (400 `grant_revoked`, naming what to redo). A failing store is a 503.
 * Every endpoint that continues a token (refresh, the AAuth exchange, the RFC 8693 exchange) asks it.
 */
export async function checkNotRevoked(ctx: Pick<ServerContext, 'revocation'>, token: VerifiedToken, what: string): Promise<void> {
  const registry = ctx.revocation;
  const jti = token.claims.jti;
  if (registry === undefined || typeof jti !== 'string') return;
  const agent = token.agent ?? (typeof token.audience === 'string' ? token.audience : undefined);
  const subject = { agents: [...(agent === undefined ? [] : [agent]), ...chainAgents(token.act)], sub: token.subject, iat: typeof token.claims.iat === 'number' ? token.claims.iat : undefined };
  let revoked: boolean;
  try {
    revoked = await registry.isRevoked(token.issuer, jti, subject);
  } catch (error) {
    if (isAAuthError(error)) throw error;
    throw new AAuthError('revocation_store_failed', undefined, { cause: error, headers: { 'Retry-After': '1' } });
  }
  if (!revoked) return;
  const whose = token.subject === undefined ? `agent ${agent ?? 'unknown'}` : `user ${token.subject} and agent ${agent ?? 'unknown'}`;
  throw new GrantRevokedError(`${what} refused: it was revoked (the grant of ${whose} was withdrawn or revoked); the user must connect again`, {
    issuer: token.issuer,
    agent,
    user: token.subject,
  });
}

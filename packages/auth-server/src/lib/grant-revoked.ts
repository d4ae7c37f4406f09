import { AAuthError } from '@aauth-kit/core';

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

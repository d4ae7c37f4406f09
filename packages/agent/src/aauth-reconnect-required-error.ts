import { AAuthError } from '@aauth-kit/core';

/** What a person must redo before this agent can act again (issue 17). */
export interface ReconnectTarget {
  /** The auth server that refused: where the new consent is given. */
  authServer: string;
  /** The resource the refused token request was for. */
  resource: string;
  /** The agent whose grant was withdrawn or revoked (it may be an upstream caller of this agent). */
  agent?: string | undefined;
  /** The user (`sub`) who must consent again, when the auth server named one. */
  user?: string | undefined;
  /** Where the user consents again, when the auth server gave one (the Keycloak profile names none: the agent's caller starts over). */
  consentUrl?: string | undefined;
}

/**
 * `reconnect_required` (502, issue 17): a token this agent presented was revoked and the auth
 * server refused a new one because the grant it continues was withdrawn. The call is not retried:
 * a person must connect (consent) again, as `target` names. Thrown once per call, never looped.
 */
export class AAuthReconnectRequiredError extends AAuthError {
  /** What to redo: which grant (agent, user), at which auth server, for which resource. */
  readonly target: ReconnectTarget;

  constructor(message: string, target: ReconnectTarget, cause?: unknown) {
    super('reconnect_required', message, { details: { ...target }, ...(cause === undefined ? {} : { cause }) });
    this.target = target;
  }
}

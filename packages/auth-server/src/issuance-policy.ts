/**
 * What the auth server asks an issuance policy before it issues any token (issue 17). The realm
 * file's rules (`aauth.*` attributes) have already passed: a policy can only deny or narrow further.
 */
export interface PolicyInput {
  /** The realm's name (`/realms/{realm}`). */
  realm: string;
  /** Which wire: the Keycloak profile (`keycloak`), AAuth -11 (`draft-11`), or OAuth (RFC 8693, client credentials). */
  generation: 'keycloak' | 'draft-11' | 'oauth';
  /**
   * The issuing endpoint: `aauth-token` (the Keycloak profile's token endpoint and its pending URLs),
   * `oauth-token` (`/protocol/openid-connect/token`), `person-server` (-11 person and auth token
   * endpoints), `access-server` (the -11 access server's auth token endpoint).
   */
  endpoint: 'aauth-token' | 'oauth-token' | 'person-server' | 'access-server';
  /** What would be issued: `auth`, `exchange`, `refresh` (Keycloak profile), `token-exchange`, `client-credentials` (OAuth), `person-token`, `auth-token` (-11). */
  operation: 'auth' | 'exchange' | 'refresh' | 'token-exchange' | 'client-credentials' | 'person-token' | 'auth-token';
  /** `request` when the request arrives; `consented` when a user approved it and the token is about to be delivered. */
  stage: 'request' | 'consented';
  /** The user the token would act for (realm user id, or the token's `sub`); absent before consent and for a machine. */
  user?: string;
  /** Who asks: the agent identifier (Keycloak profile identity URL, -11 `aauth:local@domain`) or the OAuth client id. */
  agent: string;
  /** The agents (or actors) the request came through, nearest first: the `act` chain of the upstream or subject token. */
  chain: string[];
  /** The resource (or audiences) the token is for. */
  resource?: string;
  /** The scopes asked, after the realm's rules. */
  scopes: string[];
  /** The agent's stated purpose (-11 `justification`), when it gave one. */
  purpose?: string;
  /** Now, epoch seconds (the server's clock): rules of time need no clock of their own. */
  time: number;
}

/** Allow (optionally narrowed to a subset of the asked scopes), or deny with a reason the agent is shown. */
export type PolicyDecision = { allow: true; scopes?: readonly string[] | undefined } | { allow: false; reason?: string | undefined };

/**
 * An issuance policy: decides one {@link PolicyInput}. Throwing (or not answering within the
 * server's `policyTimeoutMs`) refuses the request with 503 `policy_unavailable`, never an allow.
 */
export type IssuancePolicy = (input: PolicyInput) => PolicyDecision | Promise<PolicyDecision>;

import type { AAuthErrorCode, ActClaim } from '@aauth-kit/core';

/** What an audit event records. */
export type AuditEventType =
  | 'token.issued'
  | 'token.exchanged'
  | 'token.refreshed'
  | 'request.refused'
  | 'consent.required'
  | 'consent.granted'
  | 'consent.denied'
  // AAuth -11 "Cancel Request": the agent withdrew its pending request (DELETE of the pending URL).
  | 'request.withdrawn'
  // AAuth -11 "Clarification Chat": the person asked the agent a question on the consent page; the agent answered it.
  | 'clarification.asked'
  | 'clarification.answered'
  // AAuth -11 "Updated Request": the agent answered with a new resource token; `scope` is the updated one.
  | 'request.updated'
  | 'login.failed'
  // -11 revocation: a token revoked at the person server, and each push of it to its resource
  // (`error` is `revocation_unsupported` or `revocation_unavailable` when the push did not record it).
  | 'token.revoked'
  | 'revocation.pushed';

/**
 * One decision of the auth server: who (agent, key thumbprint), for whom (`sub`), which resource,
 * which scopes, when, and for refusals the kit's code, the wire error and why. Never a token.
 */
export interface AuditEvent {
  type: AuditEventType;
  /** Epoch seconds. */
  time: number;
  /** The endpoint that decided: `token`, `pending`, `interact`, or `openid-connect` (the OAuth token endpoint). */
  endpoint: 'token' | 'pending' | 'interact' | 'openid-connect'
    // Issue 17: the revocation endpoint (`{issuer}/protocol/aauth/revoke`).
    | 'revoke';
  /** OAuth token endpoint: the `grant_type` of the request. */
  grantType?: string;
  /** OAuth token endpoint: the authenticated client (`client_id`). */
  client?: string;
  /** OAuth token endpoint: who acts (the `act.sub` of the issued token), when someone acts for `sub`. */
  actor?: string;
  /** OAuth token endpoint: the issued token's `aud`. */
  audience?: string[];
  agent?: string;
  thumbprint?: string;
  sub?: string;
  /** User name of the person who logged in (interaction events). */
  username?: string;
  resource?: string;
  scope?: string;
  /** `jti` of an issued auth token (an identifier, not the token). */
  jti?: string;
  act?: ActClaim;
  /** The kit's stable error code of a refusal or a failed login (`ERRORS` of @aauth-kit/core); `internal_error` for a bug. */
  code?: AAuthErrorCode;
  /** HTTP status of a refusal. */
  status?: number;
  /** Wire `error` of a refusal. */
  error?: string;
  /** Why it was refused (`error_description`). */
  reason?: string;
  // The audit-trail fields (issue 17). The server fills them in on every event it emits, from the
  // fields above when a site does not set them; a listener written for the fields above still works.
  /** The realm (tenant) that decided: its name. */
  realm?: string;
  /** The outcome: `allow` (a token was issued), `deny` (refused), `pending` (waits for consent); absent on events that are no decision (revocation). */
  decision?: AuditDecision;
  /** The user the request is for: the realm user name when the server knows it, else `sub`. */
  user?: string;
  /** Who asked, outermost first: the signing agent (or OAuth actor, else client), then every agent (or `act.sub`) of `act`. */
  chain?: string[];
  /** Scopes the request asked for (the resource token's, or the OAuth `scope` parameter). */
  scopesRequested?: string[];
  /** Scopes of the issued token; absent when nothing was issued. */
  scopesGranted?: string[];
}

/** The outcome an audit event records. */
export type AuditDecision = 'allow' | 'deny' | 'pending';

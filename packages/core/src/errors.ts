import { SIGNATURE_ERROR_OF, type SignatureErrorCode } from './lib/signature-error-codes.js';

/**
 * The one error table of the kit: stable `code` -> HTTP `status` -> wire `error` value.
 * Every package throws `AAuthError` with a code from here; the README's errors tables are checked
 * against it by a test.
 */
export const ERRORS = {
  // --- request signatures (wire profile section 3, 5) ---
  signature_missing: [401, 'invalid_signature', 'The request is not signed (no Signature-Key, Signature-Input or Signature header)'],
  signature_malformed: [401, 'invalid_signature', 'A signature header is malformed'],
  signature_key_malformed: [401, 'invalid_signature', 'The Signature-Key header is malformed'],
  signature_label_mismatch: [401, 'invalid_signature', 'Signature-Input and Signature do not carry the label named in Signature-Key'],
  signature_duplicate: [401, 'invalid_signature', 'A signature header gives two values for the selected label'],
  signature_coverage: [401, 'invalid_signature', 'The signature does not cover a required component'],
  signature_component_missing: [401, 'invalid_signature', 'A covered component is absent from the request'],
  signature_created_missing: [401, 'invalid_signature', 'The signature has no created parameter'],
  signature_stale: [401, 'invalid_signature', 'The signature was created too long ago'],
  signature_future: [401, 'invalid_signature', 'The signature was created in the future'],
  signature_expired: [401, 'invalid_signature', 'The signature has expired'],
  signature_invalid: [401, 'invalid_signature', 'The signature does not verify'],
  signature_replayed: [401, 'invalid_signature', 'The signature was already used'],
  digest_missing: [401, 'invalid_signature', 'The request has a body but the signature does not cover content-digest'],
  digest_malformed: [401, 'invalid_signature', 'The Content-Digest header is malformed or uses no supported algorithm'],
  digest_mismatch: [401, 'invalid_signature', 'The Content-Digest does not match the body'],
  key_invalid: [401, 'invalid_signature', 'The signing key is not a usable public key'],
  key_not_found: [401, 'invalid_signature', 'The signing key could not be found'],
  key_discovery_failed: [401, 'invalid_signature', 'The signing key could not be fetched'],
  // Discovery's per-host limit (issue 13): the server is busy with the signer's host; retry later.
  key_discovery_busy: [503, 'server_error', 'Too many key discoveries are in progress for this host'],
  egress_denied: [401, 'invalid_signature', 'A metadata or key URL is not allowed by the egress policy'],
  unsupported_scheme: [401, 'unsupported_scheme', 'The Signature-Key scheme is not supported'],
  unsupported_algorithm: [401, 'invalid_signature', 'The key algorithm is not supported'],
  identity_required: [401, 'identity_required', 'This resource requires an agent identity'],
  // --- -11 / HTTP Signature Keys -09 (draft-11 profile sections 2-4): keys, metadata, revocation ---
  key_alg_missing: [401, 'invalid_signature', 'The key carries no alg (a fully specified algorithm is required)'],
  key_alg_mismatch: [401, 'invalid_signature', 'The key alg disagrees with its kty or crv'],
  issuer_missing: [401, 'invalid_signature', 'The metadata document has no issuer'],
  issuer_mismatch: [401, 'invalid_signature', 'The metadata document issuer is not the identity it was fetched under'],
  metadata_invalid: [401, 'invalid_signature', 'The metadata document lacks a required member or has an invalid one'],
  token_revoked: [401, 'invalid_auth_token', 'The token has been revoked by its issuer'],
  // -11 challenges (AAuth-Requirement, draft-11 profile section 7): 401 without Signature-Error.
  agent_token_required: [401, 'agent_token_required', 'This resource requires an agent token'],
  person_token_required: [401, 'person_token_required', 'This resource requires a person token'],
  // --- auth tokens (section 7) ---
  auth_token_required: [401, 'invalid_auth_token', 'Authorization required'],
  token_malformed: [401, 'invalid_auth_token', 'The token is not a well-formed JWT'],
  token_typ_invalid: [401, 'invalid_auth_token', 'The token has the wrong typ'],
  token_alg_not_allowed: [401, 'invalid_auth_token', 'The token algorithm is not allowed'],
  token_signature_invalid: [401, 'invalid_auth_token', 'The token signature does not verify'],
  token_expired: [401, 'invalid_auth_token', 'The token has expired'],
  token_not_yet_valid: [401, 'invalid_auth_token', 'The token is not valid yet'],
  token_lifetime_invalid: [401, 'invalid_auth_token', 'The token lives longer than allowed'],
  token_audience_invalid: [401, 'invalid_auth_token', 'The token was issued for another audience'],
  token_issuer_untrusted: [401, 'invalid_auth_token', 'The token issuer is not trusted'],
  token_claim_invalid: [401, 'invalid_auth_token', 'A token claim is missing or invalid'],
  token_agent_mismatch: [401, 'invalid_auth_token', 'The token was issued to another agent'],
  token_cnf_missing: [401, 'invalid_auth_token', 'The token has no cnf.jwk'],
  token_cnf_mismatch: [401, 'invalid_auth_token', 'The request was not signed by the key the token is bound to'],
  insufficient_scope: [403, 'insufficient_scope', 'The token does not carry the required scope'],
  // --- limits and generic input ---
  invalid_request: [400, 'invalid_request', 'The request is malformed'],
  header_too_large: [431, 'invalid_request', 'A header is larger than allowed'],
  body_too_large: [413, 'invalid_request', 'The request body is larger than allowed'],
  // parseChallenge's error; the agent throws it as an AAuthChallengeError, whose status is 502.
  challenge_malformed: [400, 'invalid_request', 'The AAuth challenge header is malformed'],
  route_not_found: [404, 'not_found', 'Nothing is served at this path'],
  method_not_allowed: [405, 'method_not_allowed', 'This method is not served at this path'],
  // --- the server itself failed (a bug, a store that threw): 5xx, and the body says no more ---
  internal_error: [500, 'server_error', 'The server failed to process the request'],
  replay_store_failed: [503, 'server_error', 'The replay store failed'],
  // Issue 17: the shared revocation store threw or did not answer in time (fail closed).
  revocation_store_failed: [503, 'server_error', 'The revocation store failed'],
  // Issue 17: the auth server's shared state (Redis: pending requests, rate limits) failed or did not answer in time.
  store_unavailable: [503, 'server_error', 'The shared state store failed or did not answer in time'],
  // Issue 17: an auth token was asked for in the second a revocation of its agent or grant was recorded in, and again after it.
  revocation_settling: [503, 'server_error', 'A revocation of this agent or grant is being recorded: retry in a second'],
  // --- -11 endpoint errors (draft-11 profile section 9; problem+json `error`) ---
  agent_token_invalid: [400, 'invalid_agent_token', 'The agent token is invalid'],
  agent_token_expired: [400, 'expired_agent_token', 'The agent token has expired'],
  resource_token_revoked: [400, 'revoked_resource_token', 'The resource withdrew the resource token'],
  resource_token_invalid: [400, 'invalid_resource_token', 'The resource token is invalid'],
  resource_token_expired: [400, 'expired_resource_token', 'The resource token has expired'],
  person_token_invalid: [400, 'invalid_person_token', 'The person token is invalid'],
  account_invalid: [400, 'invalid_account', 'The account is not valid for this person'],
  user_unreachable: [403, 'user_unreachable', 'The user cannot be reached to approve the request'],
  grant_withdrawn: [403, 'grant_withdrawn', 'The user withdrew this agent\'s grant: the person must connect (consent) again'],
  subagent_request_refused: [403, 'access_denied', 'A sub-agent does not request tokens itself: its parent agent requests them on its behalf'],
  presented_token_revoked: [400, 'revoked_presented_token', 'The presented token was revoked'],
  presented_token_invalid: [400, 'invalid_presented_token', 'The presented token is invalid or does not match the resource token'],
  presented_token_expired: [400, 'expired_presented_token', 'The presented token has expired'],
  upstream_token_revoked: [400, 'revoked_upstream_token', 'The upstream token was revoked'],
  upstream_token_invalid: [400, 'invalid_upstream_token', 'The upstream token is invalid or not addressed to the intermediary'],
  upstream_token_expired: [400, 'expired_upstream_token', 'The upstream token has expired'],
  person_server_untrusted: [403, 'access_denied', 'The signing person server is not trusted by this access server'],
  access_server_refused: [403, 'access_denied', 'The access server refused the token request'],
  as_unreachable: [502, 'as_unreachable', 'The access server could not be reached, or its answer failed the checks'],
  // AAuth -11 "AS Response": what a four-party access server may ask of the person server that the kit cannot do.
  as_payment_unsupported: [403, 'payment_unsupported', 'The access server requires payment (402), which this person server cannot settle'],
  as_requirement_unsupported: [403, 'unsupported_requirement', 'The access server requires a step (202 AAuth-Requirement) this person server does not support'],
  pending_denied: [403, 'denied', 'The user denied the request'],
  pending_abandoned: [403, 'abandoned', 'The user abandoned the interaction'],
  // AAuth -11 "Polling Error Codes": a token the pending request depends on was revoked while it waited.
  pending_revoked: [403, 'revoked', 'A token the pending request depends on was revoked'],
  interaction_code_invalid: [410, 'invalid_code', 'The interaction code is unknown, used or exhausted'],
  // AAuth -11 "Cancel Request": the agent sent DELETE to its pending URL; later requests to it are 410.
  pending_withdrawn: [410, 'invalid_code', 'The agent withdrew the request (DELETE of its pending URL)'],
  slow_down: [429, 'slow_down', 'Polling too fast: wait longer between polls'],
  // AAuth -11 "Revocation Request" errors (a resource's revocation_endpoint; issue 16).
  revocation_issuer_unsupported: [403, 'unsupported_iss', 'This server does not accept revocations from this caller'],
  rate_limited: [429, 'rate_limited', 'Too many revocations from this caller for now: retry after Retry-After'],
  // --- auth server (section 8) ---
  invalid_grant: [400, 'invalid_grant', 'The resource, upstream or auth token was refused'],
  invalid_scope: [400, 'invalid_scope', 'The requested scope is not allowed'],
  access_denied: [403, 'access_denied', 'The request was denied by policy'],
  pending_not_found: [404, 'not_found', 'No such pending request'],
  pending_expired: [408, 'expired', 'The pending request has expired'],
  // A call held by a deferred resource route (-11 "Deferred Delivery") completes only with an auth token for its person and mission.
  pending_person_mismatch: [403, 'access_denied', 'The auth token is for another person or mission than the held call'],
  // A request whose body did not arrive in time (a stalled or dripping upload): the connection is closed.
  body_timeout: [408, 'invalid_request', 'The request body did not arrive in time'],
  resource_token_replayed: [400, 'invalid_grant', 'The resource token was already redeemed (single use until its exp)'],
  upstream_agent_blocked: [403, 'access_denied', 'An agent in the delegation chain is blocked by realm policy'],
  // Issue 17: the auth server's issuance policy hook (after the realm file's rules) refused; the message says why.
  policy_denied: [403, 'access_denied', 'The issuance policy denied the request'],
  // The issuance policy could not answer (it threw, timed out, or an OPA server was down): never an allow.
  policy_unavailable: [503, 'server_error', 'The issuance policy could not be evaluated: try again later'],
  consent_user_mismatch: [403, 'access_denied', 'The consent came from another user than the one the token acts for'],
  grant_lifetime_exceeded: [400, 'invalid_grant', "The grant has outlived the realm's SSO session maximum (ssoSessionMaxLifespan)"],
  // Issue 17: the token a request continues was revoked (by token, agent, or the user's withdrawn grant).
  grant_revoked: [400, 'invalid_grant', 'The token was revoked, or the user withdrew the grant it continues: the user must connect again'],
  // Section 8: every request to the token and pending endpoints is signed with the agent's own key.
  request_unsigned: [401, 'invalid_request', 'The request must be signed with HTTP Message Signatures (wire profile section 8)'],
  pending_conflict: [500, 'server_error', 'The pending request id or code is already in use'],
  // Issue 13, finding 4: each agent key and resource has its share of the pending store, and a full
  // store refuses new requests rather than evicting anyone's live one.
  pending_limit_reached: [429, 'access_denied', "Too many requests are waiting for a user's decision for this agent key or resource"],
  pending_store_full: [503, 'server_error', 'The pending store is full: try again later'],
  // --- auth server: the interaction (consent) pages, answered as HTML pages with this status ---
  consent_request_invalid: [400, 'invalid_request', 'The consent page request is malformed'],
  consent_callback_invalid: [400, 'invalid_request', 'The callback must be an absolute https URL (or http to a local name) without credentials'],
  // Issue 13, finding 13: a callback is bound to the agent (its origin, or its metadata's redirect_uris).
  consent_callback_unregistered: [400, 'invalid_request', "The callback is not on the agent's origin nor among the redirect_uris of its metadata"],
  consent_request_expired: [410, 'expired', 'The pending request has expired'],
  consent_already_decided: [409, 'invalid_request', 'The request was already approved or denied'],
  consent_request_withdrawn: [410, 'invalid_request', 'The agent withdrew the request'],
  consent_form_invalid: [403, 'access_denied', 'The form expired or did not come from this server'],
  login_failed: [401, 'access_denied', 'Invalid user name or password'],
  login_locked: [429, 'access_denied', 'Too many failed sign-in attempts for this request'],
  // Issue 13, finding 14: an address naming unknown interaction codes backs off.
  consent_lookup_throttled: [429, 'access_denied', 'Too many unknown interaction codes from this address: try again later'],
  // --- OAuth token endpoint (RFC 6749 section 5.2, RFC 8693 section 2.2.2) ---
  invalid_client: [401, 'invalid_client', 'Client authentication failed'],
  unauthorized_client: [400, 'unauthorized_client', 'The client is not allowed to use this grant type'],
  invalid_target: [400, 'invalid_target', 'The requested audience or resource is not allowed'],
  unsupported_grant_type: [400, 'unsupported_grant_type', 'The grant type is not supported'],
  // Issue 13, finding 14: failed client authentications back off per client and per source address.
  client_auth_throttled: [429, 'invalid_client', 'Too many failed client authentications: try again later'],
  actor_token_not_client: [400, 'invalid_grant', 'The actor token does not identify the authenticated client'],
  actor_token_is_subject: [400, 'invalid_grant', 'The actor token names the subject itself'],
  // --- agent (client) side: a downstream call failed, so 5xx (502, 504 for timeouts), never 401/403 ---
  // An app route that calls agent.fetch passes these to its error handler: its own caller must see
  // a failing peer, not a refusal of its own (valid) token.
  challenge_missing_resource_token: [502, 'server_error', 'The challenge carries no resource token'],
  challenge_unsatisfiable: [502, 'server_error', 'The challenge asks for something this agent cannot provide'],
  auth_server_untrusted: [502, 'server_error', 'The challenge names an auth server this agent does not trust'],
  resource_token_not_for_agent: [502, 'server_error', 'The resource token was not issued to this agent'],
  // A resource token naming a resource on another origin than the one that answered (issue 13, finding 9).
  challenge_resource_mismatch: [502, 'server_error', 'The resource token names another resource than the one that answered'],
  auth_server_error: [502, 'server_error', 'The auth server refused or failed the token request'],
  auth_server_discovery_failed: [502, 'server_error', 'The auth server metadata could not be fetched or is invalid'],
  // The call's own target did not answer (refused, unresolvable, reset, TLS): no HTTP answer to pass on.
  resource_unreachable: [502, 'server_error', 'The resource could not be reached'],
  // A token endpoint's 200 the agent will not cache or present (issue 13, finding 10; section 7).
  issued_token_unbound: [502, 'server_error', "The auth server issued a token not bound (cnf.jwk) to this agent's key"],
  issued_token_audience_invalid: [502, 'server_error', 'The auth server issued a token for another resource (aud)'],
  issued_token_expiry_invalid: [502, 'server_error', 'The auth server issued a token without exp, or an expired one'],
  issued_token_mission_mismatch: [502, 'server_error', 'The person server issued a token for another mission (mission_s256)'],
  interaction_required: [502, 'server_error', 'A user must approve this request'],
  interaction_denied: [502, 'server_error', 'The user denied the request'],
  interaction_expired: [504, 'server_error', 'The pending interaction expired'],
  interaction_timeout: [504, 'server_error', 'The interaction did not complete within the deadline'],
  // Issue 17: a held token was revoked and the auth server refused a new one: a person must connect again.
  reconnect_required: [502, 'server_error', 'The grant was withdrawn or revoked: the user must connect (consent) again'],
  // --- agent: RFC 8693 token exchange (the server's `error` is in the error's details) ---
  exchange_subject_token_missing: [502, 'server_error', 'There is no subject token (the user\'s token) to exchange'],
  exchange_invalid_request: [502, 'server_error', 'The authorization server refused the token exchange as malformed, or the subject or actor token as invalid (invalid_request)'],
  exchange_invalid_client: [502, 'server_error', 'The authorization server refused the client authentication (invalid_client)'],
  exchange_invalid_grant: [502, 'server_error', 'The authorization server refused a valid subject or actor token by policy (invalid_grant)'],
  exchange_unauthorized_client: [502, 'server_error', 'The client may not use token exchange at the authorization server (unauthorized_client)'],
  exchange_invalid_target: [502, 'server_error', 'The authorization server refused the audience or resource (invalid_target)'],
  exchange_invalid_scope: [502, 'server_error', 'The authorization server refused the scope (invalid_scope)'],
  exchange_failed: [502, 'server_error', 'The token exchange failed: no answer, an unknown error or an invalid response'],
} as const satisfies Record<string, readonly [number, string, string]>;

/** A stable error code of the kit. */
export type AAuthErrorCode = keyof typeof ERRORS;

export interface AAuthErrorOptions {
  /** Override the table's HTTP status (rarely needed); a 5xx status sends the wire error `server_error`. */
  status?: number | undefined;
  /** Headers a server should send with this error (e.g. an `AAuth` challenge). */
  headers?: Record<string, string> | undefined;
  /** The underlying error. */
  cause?: unknown;
  /** Structured details safe to log (never tokens). */
  details?: Record<string, unknown> | undefined;
}

/** The kit's one error class: `code` is stable, `status` and `error` come from the error table. */
export class AAuthError extends Error {
  readonly code: AAuthErrorCode;
  readonly status: number;
  /** Wire `error` value for JSON bodies. */
  readonly error: string;
  readonly headers: Record<string, string>;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: AAuthErrorCode, message?: string, options: AAuthErrorOptions = {}) {
    // JavaScript callers are not held to the union: an unknown code says so, not "cannot read '0'".
    if (!Object.hasOwn(ERRORS, code)) throw new TypeError(`${JSON.stringify(String(code)).slice(0, 80)} is not an AAuthError code (ERRORS, exported beside AAuthError, lists them)`);
    const row = ERRORS[code];
    super(message ?? row[2], options.cause === undefined ? undefined : { cause: options.cause });
    // The class's own name: `AAuthChallengeError`, `TokenExchangeError`, ... for subclasses.
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? row[0];
    // 5xx means a failing peer: its wire error is server_error, like every 5xx row of the table
    // (an agent throws a resource's 4xx code with 502; its caller must not read invalid_auth_token).
    // A 5xx row of its own keeps its wire error (-11's as_unreachable, 502).
    this.error = this.status >= 500 && row[0] < 500 ? 'server_error' : row[1];
    this.headers = options.headers ?? {};
    this.details = options.details;
  }

  /** Express's default error handler reads `statusCode` too. */
  get statusCode(): number {
    return this.status;
  }

  /** The JSON body a server sends: `{"error","error_description"}`. */
  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.message };
  }

  /**
   * The -11 body (draft-11 profile section 5, RFC 9457): `application/problem+json` with `error`
   * and `detail`. A signature failure's `error` is its -09 code, and its `type` the
   * `urn:ietf:params:sig-error:<code>` URN of HTTP Signature Keys -09 section 5.2.
   */
  toProblemJSON(): ProblemJSON {
    const sig = this.status === 401 ? SIGNATURE_ERROR_OF[this.code] : undefined;
    const body: ProblemJSON = { error: sig ?? this.error, detail: this.message, status: this.status };
    if (sig !== undefined) body.type = `urn:ietf:params:sig-error:${sig}`;
    return body;
  }
}

/** The media type of -11 error bodies (RFC 9457). */
export const PROBLEM_JSON = 'application/problem+json';

/** An RFC 9457 problem details body as -11 sends it. */
export interface ProblemJSON {
  /** The error code (AAuth -11 section "Error Response Format"; for signature failures the -09 code). */
  error: string;
  /** Human-readable explanation of this occurrence. */
  detail: string;
  status: number;
  /** Signature failures only: `urn:ietf:params:sig-error:<code>`. */
  type?: string;
}

/**
 * The -09 Signature-Error code of a kit error, or undefined when it is not a signature failure
 * (a challenge, a 403, an input limit, a 5xx): those never carry Signature-Error.
 */
export function signatureErrorCode(error: AAuthError): SignatureErrorCode | undefined {
  return error.status === 401 ? SIGNATURE_ERROR_OF[error.code] : undefined;
}

/** True for an `AAuthError`, optionally with the given code. */
export function isAAuthError(value: unknown, code?: AAuthErrorCode): value is AAuthError {
  return value instanceof AAuthError && (code === undefined || value.code === code);
}

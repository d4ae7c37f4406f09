import type { PublicJwk } from '@aauth-kit/core';
import type { RevocationRegistry, Verifier } from '@aauth-kit/verifier';
import type { RealmConfig } from '../load-realm.js';
import type { PendingStore } from '../pending-store.js';
import type { UsedTokenStore } from '../used-token-store.js';
import type { AuditEvent } from '../audit-event.js';
import type { RealmKey } from './realm-key.js';
import type { PolicyCheck } from './policy-hook.js';
import type { RateLimitStore } from './brute-force.js';
import type { SessionStore } from './interaction-sessions.js';

/** Who signed a request to the auth server, as the verifier established it. */
export interface Signer {
  scheme: 'hwk' | 'jwks_uri';
  /** Identity URL for `jwks_uri`, `pseudonymous:<thumbprint>` for `hwk`. */
  agent: string;
  thumbprint: string;
  /** The signing key's public JWK (no `kid`), for `cnf.jwk`. */
  jwk: PublicJwk;
  /** The verified signature's bytes, base64url: a poll of a pending URL is single use by it (issue 13, finding 8). */
  signature: string;
  /** Who sent the request (the TCP peer address): the key discovery its tokens need is held per caller (issue 13, finding 5). */
  caller?: string | undefined;
}

/** Resolves the keys of other parties through the verifier's discovery (section 4 rules). */
export interface KeyResolver {
  resolveResourceJwk(iss: string, kid: string | undefined): Promise<unknown>;
  resolveIssuerJwk(iss: string, kid: string | undefined): Promise<unknown>;
  /** An agent's or resource's metadata document (section 9), for the consent page's display fields. */
  resolveMetadata(kind: 'agent' | 'resource', id: string): Promise<Record<string, unknown>>;
}

/** Everything the endpoints share, resolved once at start-up. */
export interface ServerContext {
  /**
   * The -11 person server's metadata reader (its verifier: -11 server identifiers, its loopback
   * setting), for the consent page's display fields of -11 parties; set when the person server is served.
   */
  metadata11?: { resolveServerMetadata(id: string, dwk: string, caller?: string): Promise<Record<string, unknown>> } | undefined;
  issuer: string;
  /** Path of the issuer URL, the prefix of every route (`/realms/aauth-test`). */
  issuerPath: string;
  /** Scheme and authority of `baseUrl`: a request URL is this origin and the request target (core's `toHttpRequest`). */
  origin: string;
  realm: RealmConfig;
  key: RealmKey;
  keys: KeyResolver;
  /** The one token verification (the verifier's `verifyToken`): every token the server accepts goes through it. */
  tokens: Pick<Verifier, 'verifyToken'>;
  store: PendingStore;
  /** Redeemed resource tokens (single use until `exp`). */
  usedTokens: UsedTokenStore;
  /** Rate-limit counters (sign-in, interaction codes, client authentication): memory, or shared (Redis). */
  rateLimits: RateLimitStore;
  /** The consent page's sign-in sessions: memory, or shared (Redis). */
  sessions: SessionStore;
  now: () => number;
  pendingLifetime: number;
  audit: (event: AuditEvent) => void;
  warn: (message: string) => void;
  /** Whether cookies get `Secure` (https base URL). */
  secureCookies: boolean;
  /** The issuance policy (issue 17), asked before any token is issued, after the realm's rules: the scopes to issue. */
  policy: PolicyCheck;
  /** Revocations by token, agent and grant (issue 17), consulted on refresh and exchange; default none. */
  revocation?: RevocationRegistry | undefined;
}

/** The endpoint URLs of an issuer (Keycloak's paths, wire profile section 8). */
export const endpoints = (issuer: string) => ({
  token: `${issuer}/protocol/aauth/token`,
  interaction: `${issuer}/protocol/aauth/interact`,
  jwks: `${issuer}/protocol/aauth/certs`,
  pending: (id: string) => `${issuer}/protocol/aauth/pending/${id}`,
});

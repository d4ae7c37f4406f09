/**
 * The -11 answers of the resource (draft-11 profile sections 4, 5 and 7; AAuth -11 "Requirement
 * Responses", "Verification"): `AAuth-Requirement` challenges, `Signature-Error` on every signature
 * failure (always a 401), `Accept-Signature-*`, and the `req.aauth` of a -11 caller.
 */
import { AAuthError, serializeRequirement, type AAuthErrorCode, type RequirementValue } from '@aauth-kit/core';
import { buildAcceptSignatureAlg, buildAcceptSignatureScheme, signatureErrorHeaders } from '@aauth-kit/core/internal';
import type { VerifiedRequest } from '@aauth-kit/verifier';
import type { AAuthInfo, RequireLevel } from '../types.js';

/** What the -11 answers of one route need. */
export interface Route11 {
  level: RequireLevel;
  /** Every component a signature must cover here (for `required_input`). */
  requiredInput: string[];
  /** `Accept-Signature-Alg`: the -11 algorithms the verifier accepts. */
  algorithms: readonly string[];
}

/**
 * The Signature-Key schemes a route accepts, for `Accept-Signature-Scheme` (AAuth -11 "Signature-Key
 * Scheme Rejection": a resource that also serves non-AAuth signers lists every scheme it accepts).
 */
export function routeSchemes(level: RequireLevel): string[] {
  switch (level) {
    case 'signature':
      return ['hwk', 'jwks_uri', 'jwt'];
    case 'identity':
      return ['jwks_uri', 'jwt'];
    default:
      return ['jwt'];
  }
}

/** The requirement a route puts to a caller that has not presented enough (AAuth -11 section "Requirement Values"). */
export function missingRequirement(level: RequireLevel): RequirementValue {
  // An auth-token route's first call presents a person token (AAuth -11 "Resource Metadata", access_mode).
  return level === 'person' || level === 'auth-token' ? 'person-token' : 'agent-token';
}

const REQUIREMENT_CODE: Record<'agent-token' | 'person-token' | 'auth-token', AAuthErrorCode> = {
  'agent-token': 'agent_token_required',
  'person-token': 'person_token_required',
  'auth-token': 'auth_token_required',
};

function acceptHeaders(route: Route11): Record<string, string> {
  const headers: Record<string, string> = { 'Accept-Signature-Scheme': buildAcceptSignatureScheme(routeSchemes(route.level)) };
  if (route.algorithms.length > 0) headers['Accept-Signature-Alg'] = buildAcceptSignatureAlg(route.algorithms);
  return headers;
}

/** Marks an error as answered in -11 form (problem+json), also for an app's error handler (`errors: 'next'`). */
export function as11(error: AAuthError, headers: Record<string, string> = error.headers): AAuthError {
  return new AAuthError(error.code, error.message, {
    status: error.status,
    headers,
    cause: error.cause,
    details: { ...error.details, generation: 'draft-11' },
  });
}

/** True when `error` is to be answered as -11 does (problem+json). */
export function isDraft11Error(error: AAuthError): boolean {
  return error.details?.generation === 'draft-11';
}

/**
 * A 401 requirement challenge (`AAuth-Requirement`, no `Signature-Error`: the signature verified
 * or there was none to judge), with `Accept-Signature-*` so the agent can sign right the first time.
 */
export function requirementChallenge(requirement: 'agent-token' | 'person-token' | 'auth-token', message: string, route: Route11, resourceToken?: string): AAuthError {
  const headers = {
    'AAuth-Requirement': serializeRequirement({ requirement, ...(resourceToken === undefined ? {} : { resourceToken }) }),
    ...acceptHeaders(route),
  };
  return as11(new AAuthError(REQUIREMENT_CODE[requirement], message), headers);
}

/**
 * A refused signed request in -11 form. A signature failure (every 401 of the verifier) carries
 * `Signature-Error` with its -09 code and `Accept-Signature-*`; an unsigned request also gets the
 * route's requirement, and a revoked auth token `requirement=person-token` (AAuth -11 RS-43: never
 * an auth-token challenge). Anything else (413, 431, 503) keeps its status and gets no signature header.
 */
export function signatureFailure(error: AAuthError, route: Route11): AAuthError {
  const headers = signatureErrorHeaders(error, { schemes: routeSchemes(route.level), algorithms: route.algorithms, requiredInput: route.requiredInput });
  if (headers['Signature-Error'] === undefined) return as11(error, {});
  Object.assign(headers, acceptHeaders(route));
  if (error.code === 'signature_missing') {
    headers['AAuth-Requirement'] = serializeRequirement({ requirement: missingRequirement(route.level) });
  } else if (error.code === 'token_revoked' && error.details?.kind === 'auth') {
    headers['AAuth-Requirement'] = serializeRequirement({ requirement: 'person-token' });
  }
  return as11(error, headers);
}

/** `req.aauth` of a -11 caller: today's shape plus `generation`, `accessMode`, `agentId`, `ps`, `person`. */
export function toInfo11(v: VerifiedRequest): AAuthInfo {
  const info: AAuthInfo = { scheme: v.scheme, generation: 'draft-11', agent: v.agent, thumbprint: v.thumbprint, jwk: v.key.jwk, scope: [] };
  const presented = v.presented;
  if (!presented) return info;
  const t = presented.token;
  const claims = t.claims;
  info.token = { raw: t.raw, kind: presented.kind, issuer: t.issuer, scope: t.scope, exp: t.expiresAt };
  if (typeof claims.jti === 'string') info.token.jti = claims.jti;
  if (t.subject !== undefined) info.token.sub = t.subject;
  switch (presented.kind) {
    case 'agent':
      info.accessMode = 'agent-token';
      info.agentId = t.subject!;
      info.token.agent = t.subject!;
      if (typeof claims.ps === 'string') info.ps = claims.ps;
      break;
    case 'person':
      info.accessMode = 'person-token';
      info.ps = t.issuer;
      info.sub = t.subject!;
      info.person = { issuer: t.issuer, sub: t.subject! };
      break;
    case 'auth':
      info.accessMode = 'auth-token';
      info.ps = claims.ps as string;
      info.sub = t.subject!;
      // AAuth -11 "Auth Token Verification" step 7: (iss, sub) identifies the person.
      info.person = { issuer: t.issuer, sub: t.subject! };
      info.scope = t.scope;
      break;
  }
  return info;
}

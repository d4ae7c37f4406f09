import { AAuthError, isAAuthError, type SigningKey } from '@aauth-kit/core';
import { algOf11, sendProblem, signatureErrorHeaders } from '@aauth-kit/core/internal';
import type { Request, Response } from 'express';
import type { ServerContext } from './context.js';
import { isDiscoveryFailure } from './discovery-refusal.js';

// What the -11 person server and access server share at their edges: a bounded record map, the
// checks of a JSON body's fields, the JWKS document of a role's key, and the refusal as problem+json.

/** Most records of each kind held at once in memory (bounded; the oldest go first). */
export const MAX_RECORDS = 100_000;

/** A bounded insertion-ordered map: when full, the oldest entry goes. */
export function remember<K, V>(map: Map<K, V>, key: K, value: V, max = MAX_RECORDS): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

/** A body field that must be a string when present. */
export function stringField(body: Record<string, unknown>, name: string, max = 16 * 1024): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new AAuthError('invalid_request', `${name} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

/** A request's body (read raw) as a JSON object; `invalid_request` otherwise. */
export function parseJsonBody(req: Request): Record<string, unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AAuthError('invalid_request', 'Content-Type must be application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse((req.body as Buffer).toString('utf8'));
  } catch {
    throw new AAuthError('invalid_request', 'The body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AAuthError('invalid_request', 'The body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** The JWKS document of a -11 role's key (its one key, `use` sig and the -11 `alg`). */
export function jwksDocument(key: SigningKey): { keys: Array<Record<string, string>> } {
  const { kid: _kid, ...publicJwk } = key.toPublishedJwk() as unknown as Record<string, string>;
  return { keys: [{ ...publicJwk, kid: key.kid, use: 'sig', alg: algOf11(key.jwk) }] };
}

/**
 * Answer a refusal as -11 does: problem+json with `Cache-Control: no-store`, and on a signature
 * failure (a 401) `Signature-Error` built by `signatureError`. An unexpected error is logged and
 * answered as 500 `internal_error` naming `role`.
 */
export function refuse11(res: Response, ctx: ServerContext, error: unknown, role: string, signatureError: Parameters<typeof signatureErrorHeaders>[1], extra?: (e: AAuthError, headers: Record<string, string>) => void): void {
  let e: AAuthError;
  if (isAAuthError(error)) e = error;
  else {
    ctx.warn(`${role}: unexpected error: ${(error as Error)?.stack ?? String(error)}`);
    e = new AAuthError('internal_error', `The ${role} failed to process the request`);
  }
  e = withoutDiscoveryDetail(e, role);
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (e.status === 401) Object.assign(headers, signatureErrorHeaders(e, signatureError));
  extra?.(e, headers);
  sendProblem(res, e, headers);
}

/**
 * A refusal caused by a failed metadata or key fetch, with the fetch's detail taken out of its
 * message (code, status and headers kept): "resolves to a private address", "cannot resolve",
 * "connection refused" and "404" told apart for a host the caller chose (an agent token's or a
 * resource token's `iss`) would make the server an oracle of its own network, as issue 13 (finding
 * 12) found for the Keycloak profile. The audit event, written before, keeps the detail.
 */
function withoutDiscoveryDetail(e: AAuthError, role: string): AAuthError {
  let cause: unknown = e;
  let found = false;
  for (let depth = 0; depth < 4 && cause !== undefined && !found; depth++) {
    found = isDiscoveryFailure(cause);
    cause = (cause as { cause?: unknown }).cause;
  }
  if (!found) return e;
  const token = /^(resource|presented|upstream|agent)_token_/.exec(e.code)?.[1];
  const what = token === undefined ? 'The signing key could not be obtained' : `${token}_token refused`;
  const message = `${what}: the metadata or keys of its issuer could not be read (the ${role}'s audit event says why)`;
  return new AAuthError(e.code, message, { status: e.status, headers: e.headers, cause: e, ...(e.details === undefined ? {} : { details: e.details }) });
}

/**
 * The resource's revocation endpoint (AAuth -11 "Token Revocation"; resource checklist RS-03,
 * RS-43, RS-60, RS-61): a person server or access server pushes `{jti, exp}`, signed as itself
 * under `sig=jwks_uri`; the resource records `(caller, jti)` until `exp` plus clock skew, and its
 * verifier refuses the token from then on with `Signature-Error: error=revoked_jwt`.
 */
import { AAuthError, parseSignatureKey, type HttpRequest } from '@aauth-kit/core';
import { buildAcceptSignatureAlg, buildAcceptSignatureScheme, signatureErrorHeaders, toHttpRequest } from '@aauth-kit/core/internal';
import { createMemoryRevocationStore, type RevocationStore, type VerifiedRequest, type Verifier, type VerifyOptions } from '@aauth-kit/verifier';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { as11, isDraft11Error } from './draft11.js';
import { readRawBody } from './raw-body.js';

/** `draft11.revocation` of a resource. */
export interface ResourceRevocationOptions {
  /** Path (below the identity) where `resource.revocationEndpoint()` answers, published as `revocation_endpoint`; default `'/aauth/revoke'`. */
  path?: string | undefined;
  /** Where revocations are kept; default an in-memory store (one process: a fleet needs a shared one). */
  store?: RevocationStore | undefined;
  /**
   * Who may revoke here: a list of person and access server identifiers, or `'any'` verified
   * server; default the issuers whose person and auth tokens the resource accepts
   * (`draft11.personServers`, `draft11.authIssuers`, `authServer`, `draft11.accessServer`).
   */
  issuers?: string[] | 'any' | undefined;
  /** Revocations one issuer may send per minute; default 600 (more: 429 `rate_limited` with `Retry-After`). */
  ratePerMinute?: number | undefined;
}

/** The resolved revocation settings. */
export interface ResolvedRevocation {
  path: string;
  store: RevocationStore;
  ratePerMinute: number;
  /** Whether `issuer`, signing through the metadata document `dwk`, may revoke here. */
  accepts(issuer: string, dwk: string | undefined): boolean;
}

/** The documents a revoking server signs through: a person server's or an access server's. */
const SERVER_DOCUMENTS = ['aauth-person.json', 'aauth-access.json'] as const;
/** A revocation body is two short members: anything much larger is not one. */
const MAX_BODY_BYTES = 4096;
/** The longest lifetime of a token a resource receives revocations for (person and auth tokens: 1 h). */
const MAX_TOKEN_LIFETIME = 3600;
/** Most issuers whose rate is tracked at once (the oldest window goes first). */
const MAX_RATE_ENTRIES = 10_000;

/** Validate `options.draft11.revocation` (`true` for the defaults); undefined when off. */
export function resolveRevocationOptions(
  value: ResourceRevocationOptions | boolean | undefined,
  trust: { personServers: string[] | 'any'; authIssuers: readonly string[] },
  now: () => number,
): ResolvedRevocation | undefined {
  if (value === undefined || value === false) return undefined;
  const o: ResourceRevocationOptions = value === true ? {} : value;
  if (typeof o !== 'object' || o === null) throw new TypeError('options.draft11.revocation must be true or an object');
  const path = o.path ?? '/aauth/revoke';
  if (typeof path !== 'string' || !/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(path)) {
    throw new TypeError('options.draft11.revocation.path must be a path starting with / (no trailing slash, query or fragment)');
  }
  const store = o.store ?? createMemoryRevocationStore({ now });
  if (typeof store !== 'object' || store === null || typeof store.revoke !== 'function' || typeof store.isRevoked !== 'function') {
    throw new TypeError('options.draft11.revocation.store must have revoke(issuer, jti, until) and isRevoked(issuer, jti) methods');
  }
  const ratePerMinute = o.ratePerMinute ?? 600;
  if (!Number.isInteger(ratePerMinute) || ratePerMinute < 1) throw new TypeError('options.draft11.revocation.ratePerMinute must be a positive integer');
  const issuers = o.issuers;
  if (issuers !== undefined && issuers !== 'any' && (!Array.isArray(issuers) || issuers.some((i) => typeof i !== 'string' || i.length === 0))) {
    throw new TypeError("options.draft11.revocation.issuers must be 'any' or an array of server identifiers");
  }
  const accepts = (issuer: string, dwk: string | undefined): boolean => {
    if (dwk !== 'aauth-person.json' && dwk !== 'aauth-access.json') return false;
    if (issuers === 'any') return true;
    if (issuers !== undefined) return issuers.includes(issuer);
    // By default, exactly the servers whose tokens this resource accepts: a person server revokes
    // person and auth tokens (three-party), an access server the auth tokens it issued (RS-61).
    if (dwk === 'aauth-person.json' && (trust.personServers === 'any' || trust.personServers.includes(issuer))) return true;
    return trust.authIssuers.includes(issuer);
  };
  return { path, store, ratePerMinute, accepts };
}

/** What the endpoint needs from its resource. */
export interface RevocationEndpointDeps {
  revocation: ResolvedRevocation;
  verifier: Verifier;
  /** The resource identity's origin (the verified URL is built from it, never from Host). */
  origin: string;
  /** The -11 algorithms the verifier accepts (`Accept-Signature-Alg`). */
  algorithms: readonly string[];
  /** Clock skew tolerated, seconds: an entry lives until `exp` plus this. */
  skew: number;
  now: () => number;
  callerKey: (req: Request) => string;
  respond: (error: AAuthError, req: Request, res: Response, next: NextFunction) => void;
  /** The time a request has to deliver its body, ms (the resource's bodyTimeoutMs). */
  bodyTimeoutMs: number;
}

/** `{jti, exp}` of a revocation request (AAuth -11 "Revocation Request"); `invalid_request` otherwise. */
export function parseRevocationBody(body: Buffer, contentType: string | undefined, issuer: string): { jti: string; exp: number } {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AAuthError('invalid_request', 'Content-Type must be application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AAuthError('invalid_request', 'The body must be a JSON object {"jti", "exp"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AAuthError('invalid_request', 'The body must be a JSON object {"jti", "exp"}');
  const { jti, exp, iss } = parsed as Record<string, unknown>;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new AAuthError('invalid_request', '"jti" must be a non-empty string of at most 256 characters');
  if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= 0) throw new AAuthError('invalid_request', '"exp" must be the revoked token\'s exp (a positive integer, epoch seconds)');
  // The issuer is the verified caller, not a parameter (-11); the earlier body's `iss` may only name it.
  if (iss !== undefined && iss !== issuer) throw new AAuthError('invalid_request', '"iss" names another issuer than the signer: a server revokes only its own tokens');
  return { jti, exp };
}

/** Fixed one-minute windows per issuer (bounded: the oldest issuer's window goes when full). */
class RateWindows {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(private readonly limit: number) {}

  /** Seconds to wait when `issuer` is over its limit, else undefined (and the request is counted). */
  take(issuer: string, t: number): number | undefined {
    let w = this.windows.get(issuer);
    if (w === undefined || t - w.start >= 60) {
      this.windows.delete(issuer);
      if (this.windows.size >= MAX_RATE_ENTRIES) this.windows.delete(this.windows.keys().next().value as string);
      w = { start: t, count: 0 };
      this.windows.set(issuer, w);
    }
    if (w.count >= this.limit) return Math.max(1, Math.ceil(w.start + 60 - t));
    w.count += 1;
    return undefined;
  }
}

/**
 * The handler of `POST {revocation_endpoint}`: method, size, scheme and caller first (refuse
 * cheaply, fetch nothing for a caller that may not revoke here), then the signature, the body,
 * the rate, the store; `200` with an empty body at once (a resource has nothing downstream).
 */
export function createRevocationEndpoint(deps: RevocationEndpointDeps): RequestHandler {
  const { revocation, verifier, skew, now } = deps;
  const rates = new RateWindows(revocation.ratePerMinute);
  const requiredInput = ['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key'];
  const accept = {
    'Accept-Signature-Scheme': buildAcceptSignatureScheme(['jwks_uri']),
    ...(deps.algorithms.length > 0 ? { 'Accept-Signature-Alg': buildAcceptSignatureAlg(deps.algorithms) } : {}),
  };

  /** A signature failure: 401 with `Signature-Error` and `Accept-Signature-*`; anything else keeps its status. */
  function signatureRefusal(error: AAuthError): AAuthError {
    const headers = signatureErrorHeaders(error, { schemes: ['jwks_uri'], algorithms: deps.algorithms, requiredInput });
    return headers['Signature-Error'] === undefined ? as11(error, error.headers) : as11(error, { ...accept, ...headers });
  }

  async function verify(request: HttpRequest, req: Request): Promise<VerifiedRequest> {
    // Signature-Key first: only a server under jwks_uri revokes (AAuth -11 "Revocation Request").
    let scheme: string | undefined;
    let id: string | undefined;
    let dwk: string | undefined;
    try {
      const { key } = parseSignatureKey(req.headers['signature-key'] as string | undefined);
      scheme = key.scheme;
      if (key.scheme === 'jwks_uri') ({ id, dwk } = key);
    } catch {
      // Absent or malformed: the verifier names what is wrong with it.
    }
    if (scheme !== undefined && scheme !== 'jwks_uri') {
      throw signatureRefusal(new AAuthError('unsupported_scheme', `A revocation is signed by a person or access server under sig=jwks_uri, not ${scheme}`));
    }
    if (id !== undefined && !revocation.accepts(id, dwk)) {
      throw as11(new AAuthError('revocation_issuer_unsupported', `This resource does not accept revocations from ${id.slice(0, 200)} (dwk ${String(dwk).slice(0, 40)}): only the person and access servers whose tokens it accepts`), {});
    }
    const options: VerifyOptions = { requiredComponents: ['content-type', 'content-digest'], caller: deps.callerKey(req), serverDocuments: SERVER_DOCUMENTS };
    try {
      return await verifier.verify(request, options);
    } catch (error) {
      throw error instanceof AAuthError ? signatureRefusal(error) : error;
    }
  }

  return async function aauthRevocation(req: Request, res: Response, next: NextFunction): Promise<void> {
    if (req.path !== revocation.path) {
      next();
      return;
    }
    try {
      if (req.method !== 'POST') throw as11(new AAuthError('method_not_allowed', 'The revocation endpoint takes a signed POST {"jti", "exp"}'), { Allow: 'POST' });
      const body = await readRawBody(req, MAX_BODY_BYTES, deps.bodyTimeoutMs);
      const request = toHttpRequest(req, deps.origin, body);
      const verified = await verify(request, req);
      const issuer = verified.agent;
      // The verifier checked the signature under the document it names; the caller must be a server
      // this resource accepts revocations from (checked again: the verified identity decides).
      if (!revocation.accepts(issuer, verified.dwk)) {
        throw as11(new AAuthError('revocation_issuer_unsupported', `This resource does not accept revocations from ${issuer.slice(0, 200)}`), {});
      }
      let parsed: { jti: string; exp: number };
      try {
        parsed = parseRevocationBody(body, req.headers['content-type'], issuer);
      } catch (error) {
        throw error instanceof AAuthError ? as11(error, {}) : error;
      }
      const t = now();
      // A revocation may not outlive the longest token lifetime this resource accepts (-11 "Revocation Request").
      if (parsed.exp > t + MAX_TOKEN_LIFETIME + skew) {
        throw as11(new AAuthError('invalid_request', `"exp" is more than ${MAX_TOKEN_LIFETIME} s ahead: no person or auth token lives that long`), {});
      }
      const wait = rates.take(issuer, t);
      if (wait !== undefined) throw as11(new AAuthError('rate_limited', `At most ${revocation.ratePerMinute} revocations a minute from ${issuer}`), { 'Retry-After': String(wait) });
      let stored: Awaited<ReturnType<RevocationStore['revoke']>>;
      try {
        stored = await revocation.store.revoke(issuer, parsed.jti, parsed.exp + skew);
      } catch (error) {
        throw as11(new AAuthError('internal_error', 'The revocation store failed', { cause: error }), {});
      }
      if (stored === 'full') throw as11(new AAuthError('rate_limited', `The revocation store holds as many entries for ${issuer} as it will`), { 'Retry-After': '60' });
      // 200 with an empty body, and then no Content-Type (-11 "Revocation Response").
      res.statusCode = 200;
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Length', '0');
      res.end();
    } catch (error) {
      // Every answer here is -11's problem+json (a 413 from the body reader too).
      if (error instanceof AAuthError) deps.respond(isDraft11Error(error) ? error : as11(error, error.headers), req, res, next);
      else next(error);
    }
  };
}

import { AAuthError, parseSignatureKey } from '@aauth-kit/core';
import { toHttpRequest } from '@aauth-kit/core/internal';
import type { Verifier } from '@aauth-kit/verifier';
import express, { type Request, type RequestHandler } from 'express';
import type { ServerContext } from './context.js';
import { parseJsonBody } from './server-11.js';

// What the -11 access server and person server share at their revocation endpoints (AAuth -11
// "Token Revocation", "Revocation Request"): the caller signs as a server under sig=jwks_uri
// (-11 "Keying Material"), content-type and content-digest covered; the body is {jti, exp}; the
// issuer of the revoked token is the caller's verified identity; a rate per issuer.

/** Revocations one issuer may send per minute (more: 429 `rate_limited` with `Retry-After`). */
const REVOCATIONS_PER_MINUTE = 600;
/** A revocation body is two short members: anything much larger is not one. */
const MAX_REVOCATION_BYTES = 4096;
/** Most issuers whose rate is tracked at once (the oldest window goes first). */
const MAX_RATE_ENTRIES = 10_000;

/**
 * The selected Signature-Key member; when the request is unsigned or the header unreadable, the
 * verifier's refusal names what is missing (its Signature-Error), else the parse error.
 */
export async function signatureKeyOf(verifier: Verifier, issuer: string, req: Request, body: Buffer | undefined, caller: string): Promise<ReturnType<typeof parseSignatureKey>['key']> {
  try {
    return parseSignatureKey(req.headers['signature-key'] as string | undefined).key;
  } catch (error) {
    await verifier.verify(toHttpRequest(req, issuer, body), { caller });
    throw error;
  }
}

/** A server that may revoke here, by the metadata document it signs through (`dwk`). */
export interface RevokingParty<K extends string> {
  kind: K;
  /** How the parties of this kind are named in a refusal (`person servers`). */
  name: string;
  /** The longest lifetime of a token of theirs revoked here: a later `exp` is `invalid_request`. */
  maxLifetime: number;
}

export interface ServerRevocationConfig<K extends string> {
  /** The recipient's identifier (the verified URL is built from it). */
  issuer: string;
  verifier: Verifier;
  /** `access server` or `person server`, in refusals. */
  role: string;
  /** The parties served, keyed by their `dwk`; any other document is `unsupported_iss`. */
  parties: Readonly<Record<string, RevokingParty<K>>>;
  /** Checked before any key is fetched: why `id` may not revoke here (403 `unsupported_iss`), or undefined. */
  refusal(kind: K, id: string): string | undefined | Promise<string | undefined>;
}

/** An accepted revocation: the verified caller (the revoked token's `iss`) and the body. */
export interface ServerRevocation<K extends string> {
  id: string;
  kind: K;
  caller: string;
  jti: string;
  exp: number;
}

/** The revocation endpoint's checks, in the order that refuses cheaply: scheme and caller, signature, body, rate. */
export function createServerRevocation<K extends string>(ctx: ServerContext, config: ServerRevocationConfig<K>) {
  const { issuer, verifier, role, parties } = config;
  const documents = Object.keys(parties);
  const named = Object.entries(parties).map(([dwk, p]) => `${p.name} (dwk "${dwk}")`);
  const served = named.join(' and ');

  /** Read the body, at most {@link MAX_REVOCATION_BYTES} (or the server's limit when lower). */
  const raw = (maxBodyBytes: number): RequestHandler => express.raw({ type: () => true, limit: Math.min(maxBodyBytes, MAX_REVOCATION_BYTES) });

  /** The server that signed: sig=jwks_uri, a served `dwk`, an `id` it deals with, the key its metadata publishes. */
  async function revokerOf(req: Request, body: Buffer | undefined): Promise<{ id: string; kind: K; caller: string; party: RevokingParty<K> }> {
    const caller = req.socket.remoteAddress ?? 'unknown';
    const sk = await signatureKeyOf(verifier, issuer, req, body, caller);
    if (sk.scheme !== 'jwks_uri') throw new AAuthError('unsupported_scheme', `A revocation to this ${role} is signed by one of its ${named.join(' or ')} as itself (sig=jwks_uri), not ${sk.scheme}`);
    const party = sk.dwk === undefined ? undefined : parties[sk.dwk];
    if (party === undefined) {
      throw new AAuthError('revocation_issuer_unsupported', `This ${role} takes revocations from ${served}, not dwk ${JSON.stringify(String(sk.dwk).slice(0, 40))}`);
    }
    // Refused before any fetch: a caller this server does not deal with is never looked up.
    const refused = await config.refusal(party.kind, sk.id);
    if (refused !== undefined) throw new AAuthError('revocation_issuer_unsupported', refused);
    const verified = await verifier.verify(toHttpRequest(req, issuer, body), { requiredComponents: ['content-type', 'content-digest'], serverDocuments: documents, caller });
    if (verified.scheme !== 'jwks_uri' || verified.agent !== sk.id) throw new AAuthError('signature_key_malformed', 'The request must be signed by the server named in Signature-Key');
    return { id: verified.agent, kind: party.kind, caller, party };
  }

  /** `{jti, exp}`, both REQUIRED; an `iss` of the earlier form may only name the signer. */
  function revocationBody(req: Request, signer: string, party: RevokingParty<K>): { jti: string; exp: number } {
    const { jti, exp, iss } = parseJsonBody(req);
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new AAuthError('invalid_request', '"jti" must be a non-empty string of at most 256 characters');
    if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= 0) throw new AAuthError('invalid_request', '"exp" must be the revoked token\'s exp (a positive integer, epoch seconds)');
    if (iss !== undefined && iss !== signer) throw new AAuthError('invalid_request', '"iss" names another issuer than the signer: a server revokes only its own tokens');
    if (exp > ctx.now() + party.maxLifetime + 60) throw new AAuthError('invalid_request', `"exp" is more than ${party.maxLifetime} s ahead: no token of ${party.name} revoked here lives that long`);
    return { jti, exp };
  }

  /** Fixed one-minute windows per issuer (bounded: the oldest issuer's window goes when full). */
  const windows = new Map<string, { start: number; count: number }>();
  function rateWait(id: string): number | undefined {
    const t = ctx.now();
    let w = windows.get(id);
    if (w === undefined || t - w.start >= 60) {
      windows.delete(id);
      if (windows.size >= MAX_RATE_ENTRIES) windows.delete(windows.keys().next().value as string);
      w = { start: t, count: 0 };
      windows.set(id, w);
    }
    if (w.count >= REVOCATIONS_PER_MINUTE) return Math.max(1, Math.ceil(w.start + 60 - t));
    w.count += 1;
    return undefined;
  }

  /** A request read by {@link raw}: the caller, then `{jti, exp}`, then its rate; throws the refusal. */
  async function accept(req: Request): Promise<ServerRevocation<K>> {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    const revoker = await revokerOf(req, body);
    const { jti, exp } = revocationBody(req, revoker.id, revoker.party);
    const wait = rateWait(revoker.id);
    if (wait !== undefined) throw new AAuthError('rate_limited', `At most ${REVOCATIONS_PER_MINUTE} revocations a minute from ${revoker.id}`, { headers: { 'Retry-After': String(wait) } });
    return { id: revoker.id, kind: revoker.kind, caller: revoker.caller, jti, exp };
  }

  return { raw, accept };
}

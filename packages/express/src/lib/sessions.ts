/**
 * -11 session tokens (AAuth -11 "AAuth-Access Response Header"): opaque token68 values a resource
 * hands out in `AAuth-Access` and reads back from `Authorization: AAuth <token>` on signed requests
 * that cover `authorization`. Each is bound to the key that signed the request it was issued on,
 * so a token taken from the wire is useless without that key. In memory, bounded (one process).
 */
import { randomBytes } from 'node:crypto';
import { AAuthError } from '@aauth-kit/core';

interface Session {
  thumbprint: string;
  data: Record<string, unknown>;
  /** Epoch seconds. */
  exp: number;
}

/** RFC 9110 section 11.2 token68; one credential, no whitespace. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The session token of an `Authorization` header, when its scheme is `AAuth`; undefined for any
 * other scheme. Malformed (empty, whitespace, several credentials): 400 `invalid_request`.
 */
export function sessionTokenOf(authorization: string | string[] | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const lines = Array.isArray(authorization) ? authorization : [authorization];
  const aauth = lines.filter((l) => /^aauth(\s|$)/i.test(l.trim()));
  if (aauth.length === 0) return undefined;
  const value = aauth.length === 1 ? aauth[0]!.trim().slice('AAuth'.length).trim() : '';
  if (aauth.length > 1 || !TOKEN68.test(value) || value.length > 4096) {
    throw new AAuthError('invalid_request', 'Authorization: AAuth must carry exactly one token68 session token');
  }
  return value;
}

/** A bounded in-memory session table: the oldest session goes first when full. */
export class SessionTable {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly lifetime: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  /** A new token for `thumbprint` carrying `data`. */
  start(thumbprint: string, data: Record<string, unknown>): string {
    const token = randomBytes(32).toString('base64url');
    if (this.sessions.size >= this.maxEntries) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(token, { thumbprint, data, exp: this.now() + this.lifetime });
    return token;
  }

  /** The data of a live session bound to `thumbprint`, or undefined. */
  get(token: string, thumbprint: string): Record<string, unknown> | undefined {
    const session = this.sessions.get(token);
    if (session === undefined) return undefined;
    if (session.exp <= this.now()) {
      this.sessions.delete(token);
      return undefined;
    }
    return session.thumbprint === thumbprint ? session.data : undefined;
  }
}

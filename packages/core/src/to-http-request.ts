import type { IncomingMessage } from 'node:http';
import { AAuthError } from './errors.js';
import { fieldLinesOf, plainTargetParts, type HttpRequest } from './lib/request.js';

/** What {@link toHttpRequest} reads of a node:http request; express adds `originalUrl` (the target before mounting). */
export type IncomingRequest = Pick<IncomingMessage, 'method' | 'url' | 'headersDistinct'> & { originalUrl?: string | undefined; rawHeaders?: string[] | undefined };

/**
 * The absolute URL a client signed, built from the server's configured origin and the request
 * target, never from Host or X-Forwarded-* (wire profile section 3: `@authority` behind a proxy).
 */
export function requestUrl(origin: string, target: string): URL {
  const problem = targetPathProblem(target);
  if (problem !== undefined) throw new AAuthError('invalid_request', problem);
  let path = target;
  if (!path.startsWith('/')) {
    // Absolute-form request targets (RFC 9112 section 3.2.2): keep only the path and query.
    try {
      const parsed = new URL(path);
      path = `${parsed.pathname}${parsed.search}`;
    } catch {
      throw new AAuthError('invalid_request', 'The request target is not a path');
    }
  }
  try {
    // Concatenation (not URL resolution) so `//other.host/x` stays a path on this origin.
    return new URL(`${origin}${path}`);
  } catch {
    throw new AAuthError('invalid_request', 'The request target is not a valid path');
  }
}

/**
 * A `.` or `..` path segment (also written %2e), or a backslash, in the path of a request target
 * (origin-form or absolute-form). The URL parser removes dot segments and reads `\` as `/`, so the
 * signature covers a path other than the one the server routes on (express matches the raw path:
 * `/admin/../public` signed as `/public` would reach a router mounted at /admin). No HTTP client
 * sends them (fetch, got and curl normalise first), so such a target is refused, not normalised.
 */
function targetPathProblem(target: string): string | undefined {
  let path = target;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*/i.exec(path);
  if (authority !== null) path = path.slice(authority[0].length);
  const query = path.search(/[?#]/);
  if (query !== -1) path = path.slice(0, query);
  if (path.includes('\\')) return 'The request target has a backslash in its path: send the path with / (a signature covers the path a URL parser makes of it)';
  if (/(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i.test(path)) {
    return "The request target has a '.' or '..' path segment (also when written %2e): send the normalised path (fetch, got and curl do); a signature covers the path after dot segments are removed, which is not the path routed";
  }
  return undefined;
}

/**
 * {@link requestUrl} as text when origin and target make a plain URL (lib/request.ts
 * `plainUrlParts`): their concatenation, which the verifier splits without a URL parse (issue 18);
 * any other target is parsed (and refused) by {@link requestUrl}.
 */
export function requestTarget(origin: string, target: string): string | URL {
  if (target.charCodeAt(0) === 47 /* / */) {
    const parts = plainTargetParts(origin, target);
    if (parts !== undefined) return parts.href;
  }
  return requestUrl(origin, target);
}

/**
 * A node:http or express request as the verifier takes it (`{ method, url, headers, body }`): the
 * URL from `origin` and the request target, every header field line kept apart (RFC 9421 section
 * 2.1 combines them itself), and the raw body bytes the caller read. The one request edge of the
 * express package and the auth server. With `urlText`, a plain URL comes as text ({@link requestTarget}).
 */
export function toHttpRequest(req: IncomingRequest, origin: string, body?: Uint8Array | undefined, urlText = false): HttpRequest {
  const target = req.originalUrl ?? req.url ?? '/';
  return {
    method: req.method ?? 'GET',
    url: urlText ? requestTarget(origin, target) : requestUrl(origin, target),
    // The field lines node received (what headersDistinct holds), read once (issue 18).
    headers: req.rawHeaders !== undefined ? fieldLinesOf(req.rawHeaders) : req.headersDistinct,
    body: body !== undefined && body.length > 0 ? body : undefined,
  };
}

import { AAuthError } from '@aauth-kit/core';

/**
 * The absolute URL a client signed, built from the resource's configured origin and the request
 * target, never from Host or X-Forwarded-* (wire profile section 3: `@authority` behind a proxy).
 */
export function requestUrl(origin: string, target: string): URL {
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

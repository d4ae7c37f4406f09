import { type PreparedRequest, readRequest } from './prepare-request.js';

/** A downstream request read once, so a retry sends the same bytes. */
export type BearerRequest = PreparedRequest;

const OWN = new Set(['method', 'headers', 'body', 'redirect', 'signal', 'duplex', 'window', 'context', 'scope']);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/** Normalise `fetch` arguments through a WHATWG `Request` and read the body into bytes (at most `maxBodyBytes`). */
export function prepareBearerRequest(input: string | URL | Request, init: RequestInit | undefined, maxBodyBytes: number): Promise<BearerRequest> {
  return readRequest(input, init, maxBodyBytes, OWN);
}

/**
 * Send `request` with `Authorization: Bearer <token>`, following redirects as fetch would but
 * never carrying the token (or cookies) to another origin.
 */
export async function sendBearer(transport: typeof fetch, request: BearerRequest, token: string): Promise<Response> {
  let current = request;
  let bearer: string | undefined = token;
  for (let hop = 0; ; hop++) {
    const headers = new Headers(current.headers);
    if (bearer !== undefined) headers.set('authorization', `Bearer ${bearer}`);
    const response = await transport(current.url, {
      ...current.extra,
      method: current.method,
      headers,
      body: current.body ?? null,
      redirect: current.redirect === 'follow' ? 'manual' : current.redirect,
      ...(current.signal ? { signal: current.signal } : {}),
    });
    const location = response.headers.get('location');
    if (current.redirect !== 'follow' || !REDIRECTS.has(response.status) || location === null) return response;
    await response.body?.cancel().catch(() => undefined);
    if (hop >= MAX_REDIRECTS) throw new TypeError('fetch failed: too many redirects');
    const next = new URL(location, current.url);
    const nextHeaders = new Headers(current.headers);
    let { method, body } = current;
    // Fetch standard, HTTP-redirect fetch: 303 (and 301/302 after POST) become a bodiless GET.
    if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) nextHeaders.delete(name);
    }
    if (next.origin !== current.url.origin) {
      for (const name of ['authorization', 'proxy-authorization', 'cookie']) nextHeaders.delete(name);
      bearer = undefined;
    }
    current = { ...current, url: next, method, body, headers: nextHeaders };
  }
}

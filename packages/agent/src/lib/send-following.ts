import { AAuthError } from '@aauth-kit/core';
import { networkErrorText } from '@aauth-kit/core/internal';
import type { Carried } from './next-step.js';
import type { PreparedRequest } from './prepare-request.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/** A response, the request that produced it (after redirects) and the token that request presented. */
export interface Sent {
  response: Response;
  request: PreparedRequest;
  carried: Carried | undefined;
}

/** The headers of one hop: the request's own, plus what presents `token` (or, without one, the agent's key). */
export type Present = (hop: PreparedRequest, token: string | undefined) => Headers | Record<string, string>;

/** Drop a response's body unread, so its connection can be reused. */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/**
 * No HTTP answer from the called URL: `resource_unreachable` (502) naming it (origin and path, no
 * query string) and the network's reason, fetch's error as `cause`; an abort (the call's signal)
 * and an error of the kit's own stay as they are.
 */
function unreachable(error: unknown, request: PreparedRequest): unknown {
  if (error instanceof AAuthError || (error as { name?: unknown } | null)?.name === 'AbortError' || request.signal?.aborted === true) return error;
  const where = `${request.url.origin}${request.url.pathname}`;
  return new AAuthError('resource_unreachable', `Cannot reach ${request.method} ${where}: ${networkErrorText(error)}`, { cause: error });
}

/**
 * Send `request`, following redirects as fetch would (`redirect` follow, manual or error), with
 * `present` making the headers of each hop: an AAuth signature covers `@authority` and `@path`,
 * so each hop is signed anew. A token is never carried to another origin.
 */
export async function sendFollowing(transport: typeof fetch, request: PreparedRequest, carried: Carried | undefined, present: Present): Promise<Sent> {
  let current = request;
  let token = carried;
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await transport(current.url, {
        ...current.extra,
        method: current.method,
        headers: present(current, token?.token),
        // No body member at all for a bodiless request: node 20's fetch given `body: null` never
        // settles when the server closes the connection unanswered (plain fetch rejects).
        ...(current.body === undefined ? {} : { body: current.body }),
        redirect: 'manual',
        ...(current.signal ? { signal: current.signal } : {}),
      });
    } catch (error) {
      throw unreachable(error, current);
    }
    const location = response.headers.get('location');
    if (current.redirect === 'manual' || !REDIRECTS.has(response.status) || location === null) {
      // As fetch: a response reached through redirects says so.
      if (hop > 0) Object.defineProperty(response, 'redirected', { value: true });
      return { response, request: current, carried: token };
    }
    await discard(response);
    if (current.redirect === 'error') throw new TypeError(`fetch failed: ${current.url.href} redirected and redirect is "error"`);
    if (hop >= MAX_REDIRECTS) throw new TypeError('fetch failed: too many redirects');
    let next: URL;
    try {
      next = new URL(location, current.url);
    } catch {
      throw new TypeError(`fetch failed: ${current.url.href} redirected to an invalid Location`);
    }
    // As fetch: only http(s) is followed (a data: URL would otherwise answer as if the resource had).
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new TypeError(`fetch failed: ${current.url.href} redirected to a ${next.protocol} URL; only http and https are followed`);
    }
    const headers = new Headers(current.headers);
    let { method, body } = current;
    // Fetch standard, HTTP-redirect fetch: 303 (and 301/302 after POST) become a bodiless GET.
    if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name);
    }
    if (next.origin !== current.url.origin) {
      for (const name of ['authorization', 'proxy-authorization', 'cookie']) headers.delete(name);
      token = undefined;
    }
    current = { ...current, url: next, method, body, headers };
  }
}

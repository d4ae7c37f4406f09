import { AAuthError } from '@aauth-kit/core';
import { SIGNATURE_HEADERS } from '../build-signed-request.js';
import type { AgentRequestInit } from '../types.js';
import { downstreamStatus } from './downstream-status.js';
import { readLimited } from './http.js';

/** A request read once: its body is bytes, so the retry sends exactly what the first attempt did. */
export interface PreparedRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: Uint8Array | undefined;
  redirect: NonNullable<RequestInit['redirect']>;
  signal: AbortSignal | undefined;
  /** Other `RequestInit` members (e.g. undici's `dispatcher`), passed through to the transport. */
  extra: Record<string, unknown>;
}

const OWN = new Set(['upstreamToken', 'signatureScheme', 'authToken', 'scope', 'method', 'headers', 'body', 'redirect', 'signal', 'duplex', 'window']);

/**
 * Normalise `fetch` arguments through a WHATWG `Request` (so every body type - string, bytes,
 * Blob, FormData, URLSearchParams, ReadableStream, a Request's own body - gets fetch's
 * content-type) and read the body into bytes, at most `maxBodyBytes`. `init` members named in
 * `own` are consumed here; the others pass through in `extra`.
 */
export async function readRequest(
  input: string | URL | Request,
  init: RequestInit | undefined,
  maxBodyBytes: number,
  own: ReadonlySet<string>,
): Promise<PreparedRequest> {
  const requestInit: RequestInit & { duplex?: 'half' } = {};
  if (init?.method !== undefined) requestInit.method = init.method;
  if (init?.headers !== undefined) requestInit.headers = init.headers;
  if (init?.body !== undefined) requestInit.body = init.body;
  if (init?.redirect !== undefined) requestInit.redirect = init.redirect;
  // A stream body needs `duplex: 'half'` in Node's fetch: the caller's, as fetch takes it (a Node
  // Readable or async iterable is only accepted with it), else added for a ReadableStream.
  const duplex = (init as { duplex?: 'half' } | undefined)?.duplex;
  if (duplex !== undefined) {
    requestInit.duplex = duplex;
  } else if (init?.body instanceof ReadableStream || (init?.body === undefined && input instanceof Request && input.body !== null)) {
    requestInit.duplex = 'half';
  }
  const request = new Request(input, requestInit);
  // As fetch: init.signal null means no signal (not the Request's); absent, the Request's own.
  const signal = init !== undefined && init.signal !== undefined ? (init.signal ?? undefined) : input instanceof Request ? input.signal : undefined;
  // As fetch: an aborted signal rejects before the body is read, and aborting while a stream body
  // is read cancels it (a body that never ends would otherwise hold the call forever).
  const body = await readLimited(
    request.body,
    maxBodyBytes,
    () => new AAuthError('body_too_large', `The request body is larger than ${maxBodyBytes} bytes`, { status: downstreamStatus('body_too_large') }),
    signal,
  );
  const extra: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(init ?? {})) if (!own.has(name) && value !== undefined) extra[name] = value;
  return {
    method: request.method,
    url: new URL(request.url),
    headers: new Headers(request.headers),
    body: request.body === null ? undefined : body,
    redirect: request.redirect,
    signal,
    extra,
  };
}

/** {@link readRequest} for the agent's own `fetch`: signature headers a caller left are dropped (they are re-made per attempt). */
export async function prepareRequest(input: string | URL | Request, init: AgentRequestInit | undefined, maxBodyBytes: number): Promise<PreparedRequest> {
  const prepared = await readRequest(input, init, maxBodyBytes, OWN);
  for (const name of SIGNATURE_HEADERS) prepared.headers.delete(name);
  return prepared;
}

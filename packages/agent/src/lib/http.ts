import { AAuthError, type AAuthErrorCode, isLocalHostname } from '@aauth-kit/core';

/** A response read whole, within limits. */
export interface LimitedResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  url: URL;
}

/** Limits of one auth-server fetch. */
export interface LimitedFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** The error code for every failure (transport, timeout, size, redirect). */
  code: AAuthErrorCode;
  /** Same-origin redirects followed for bodiless requests; default 3. */
  maxRedirects?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Section 1 egress rule: https, or plain http to local names only. */
export function egressProblem(url: URL): string | undefined {
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLocalHostname(url.hostname)) return undefined;
  return `${url.origin} is not https (plain http is allowed for local names only)`;
}

/** Read a body stream into bytes, refusing more than `max` bytes. */
export async function readLimited(stream: ReadableStream<Uint8Array> | null, max: number, onTooLarge: () => Error): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw onTooLarge();
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Fetch from an auth server with the discovery rules of section 4: a time limit, a size limit, and
 * redirects followed only within the same origin (and only for requests without a body).
 */
export async function limitedFetch(
  transport: typeof fetch,
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array },
  options: LimitedFetchOptions,
): Promise<LimitedResponse> {
  const fail = (message: string, cause?: unknown): AAuthError =>
    new AAuthError(options.code, message, cause === undefined ? {} : { cause });
  const maxRedirects = options.maxRedirects ?? 3;
  const signal = AbortSignal.timeout(options.timeoutMs);
  let current = url;
  for (let hop = 0; ; hop++) {
    const problem = egressProblem(current);
    if (problem) throw fail(`Refusing to contact ${current.origin}: ${problem}`);
    let response: Response;
    try {
      response = await transport(current, { method: init.method, headers: init.headers, body: init.body ?? null, redirect: 'manual', signal });
    } catch (error) {
      if (signal.aborted) throw fail(`${current.origin}${current.pathname} did not answer within ${options.timeoutMs} ms`, error);
      throw fail(`Cannot reach ${current.origin}${current.pathname}: ${(error as Error).message}`, error);
    }
    if (REDIRECTS.has(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get('location');
      const next = location === null ? undefined : new URL(location, current);
      if (next === undefined || next.origin !== current.origin || init.body !== undefined || hop >= maxRedirects) {
        throw fail(`${current.origin}${current.pathname} redirected (${response.status}); only same-origin redirects of bodiless requests are followed`);
      }
      current = next;
      continue;
    }
    const length = Number(response.headers.get('content-length'));
    if (Number.isFinite(length) && length > options.maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw fail(`${current.origin}${current.pathname} answered ${length} bytes, more than the ${options.maxBytes} allowed`);
    }
    let body: Uint8Array;
    try {
      body = await readLimited(response.body, options.maxBytes, () =>
        fail(`${current.origin}${current.pathname} answered more than the ${options.maxBytes} bytes allowed`),
      );
    } catch (error) {
      if (error instanceof AAuthError) throw error;
      if (signal.aborted) throw fail(`${current.origin}${current.pathname} did not answer within ${options.timeoutMs} ms`, error);
      throw fail(`Reading the answer of ${current.origin}${current.pathname} failed: ${(error as Error).message}`, error);
    }
    return { status: response.status, headers: response.headers, body, url: current };
  }
}

/** Parse a JSON object body; undefined when it is not one. */
export function jsonObject(body: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// A match starts only where a run of base64url characters starts (the lookbehind): without it a
// long run without dots costs quadratic time (64 KiB of "x" from a hostile server took seconds).
const JWT_LIKE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

/** Text from a server, safe to put in an error message: token-shaped strings removed, length capped. */
export function redact(text: unknown): string {
  const s = typeof text === 'string' ? text : '';
  const cleaned = s.replace(JWT_LIKE, '[redacted]');
  return cleaned.length > 300 ? `${cleaned.slice(0, 300)}...` : cleaned;
}

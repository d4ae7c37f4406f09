import { fetchLimited, type LimitedResponse } from '@aauth-kit/discovery';
import type { AAuthErrorCode } from '@aauth-kit/core';
import { MAX_CLARIFICATION_TEXT } from '@aauth-kit/core/internal';
import type { Clarification, Interaction } from '../types.js';
import type { AgentConfig } from './resolve-options.js';

// The fetch-under-limits rules live once, in @aauth-kit/discovery; the agent re-exports what its
// files use, so they keep importing from here.
export { egressProblem, readLimited, type LimitedResponse } from '@aauth-kit/discovery';

/** Limits of one auth-server fetch. */
export interface LimitedFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** The error code for every failure (transport, timeout, size, redirect, egress). */
  code: AAuthErrorCode;
  /** Same-origin redirects followed for bodiless requests; default 3. */
  maxRedirects?: number;
  /** Cancels the request (every caller of a shared token request gave up). */
  signal?: AbortSignal | undefined;
}

/**
 * Fetch from an auth server with the discovery rules of section 4 (@aauth-kit/discovery's
 * `fetchLimited`): https or local http only, a time limit, a size limit, and redirects followed only
 * within the same origin (and only for requests without a body). Private addresses are allowed:
 * the auth server is one the agent's configuration trusts, often on the same network.
 */
export function limitedFetch(
  transport: typeof fetch,
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array },
  options: LimitedFetchOptions,
): Promise<LimitedResponse> {
  return fetchLimited(url, init, {
    fetch: transport,
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    maxRedirects: options.maxRedirects,
    failureCode: options.code,
    deniedCode: options.code,
    allowPrivateAddresses: true,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
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
  // Long enough for a whole kit error_description (the express resource's run to ~400 characters).
  return cleaned.length > 1000 ? `${cleaned.slice(0, 1000)}...` : cleaned;
}

/** What a token flight's machine is told after a request to the token server (both generations). */
export interface TokenServerAnswer {
  type: 'answer';
  status: number;
  headers: Headers;
  body: Uint8Array;
  now: number;
}

/**
 * One signed request of a token flight (token endpoint, person server, pending URL), under the
 * agent's token-request limits: a pending URL is polled where it is, and a token endpoint is never
 * redirected (it has a body).
 */
export async function askTokenServer(
  config: Pick<AgentConfig, 'tokenRequest' | 'now'>,
  transport: typeof fetch,
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array | undefined },
  signal?: AbortSignal | undefined,
): Promise<TokenServerAnswer> {
  const limits = { ...config.tokenRequest, code: 'auth_server_error', maxRedirects: 0, ...(signal === undefined ? {} : { signal }) } as const;
  const answer = await limitedFetch(transport, url, { method: init.method, headers: init.headers, ...(init.body ? { body: init.body } : {}) }, limits);
  return { type: 'answer', status: answer.status, headers: answer.headers, body: answer.body, now: config.now() };
}

/**
 * AAuth -11 "Clarification Chat": the person's question to `onClarification` (the flight runs only
 * with one set); its answer must be a non-empty string of at most MAX_CLARIFICATION_TEXT characters.
 */
export async function askClarification(
  config: Pick<AgentConfig, 'emit' | 'onClarification' | 'now'>,
  authServer: string,
  clarification: Omit<Clarification, 'authServer'>,
): Promise<{ type: 'clarified'; answer: string; now: number }> {
  config.emit({ type: 'clarification', authServer, url: clarification.location, question: clarification.question });
  const answer: unknown = await config.onClarification!({ ...clarification, authServer });
  if (typeof answer !== 'string' || answer.trim() === '' || answer.length > MAX_CLARIFICATION_TEXT) {
    throw new TypeError(`onClarification must return (or resolve to) a non-empty string of at most ${MAX_CLARIFICATION_TEXT} characters, the answer to the person's question`);
  }
  return { type: 'clarified', answer, now: config.now() };
}

/** Hand an interaction to the application (event, then `onInteraction`); what the machine is told next. */
export async function handOverInteraction(
  config: Pick<AgentConfig, 'emit' | 'onInteraction' | 'now'>,
  authServer: string,
  interaction: Interaction,
): Promise<{ type: 'interacted'; now: number }> {
  config.emit({ type: 'interaction', authServer, url: interaction.url, code: interaction.code });
  await config.onInteraction?.(interaction);
  return { type: 'interacted', now: config.now() };
}

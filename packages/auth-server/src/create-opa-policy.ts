import { AAuthError } from '@aauth-kit/core';
import type { IssuancePolicy, PolicyDecision, PolicyInput } from './issuance-policy.js';

/** Options of {@link createOpaPolicy}; validated when it is called. */
export interface OpaPolicyOptions {
  /** The OPA server's base URL, e.g. `http://127.0.0.1:8181`. */
  url: string;
  /** The decision's document path under `/v1/data/`, e.g. `aauth/issuance/decision` (package `aauth.issuance`, rule `decision`). */
  path: string;
  /** How long one decision may take, in milliseconds; default 2000. Keep it below the server's `policyTimeoutMs`. */
  timeoutMs?: number | undefined;
  /** Fetch used for the call; default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
}

/** Largest OPA answer read, in bytes: a decision is small. */
const MAX_ANSWER_BYTES = 64 * 1024;

function unavailable(message: string, cause?: unknown): AAuthError {
  return new AAuthError('policy_unavailable', message, { headers: { 'Retry-After': '5' }, ...(cause !== undefined ? { cause } : {}) });
}

/** The decision in an OPA answer's `result`: `true`/`false`, or `{ allow, scopes?, reason? }`. */
function decisionOf(result: unknown): PolicyDecision {
  if (typeof result === 'boolean') return result ? { allow: true } : { allow: false };
  if (typeof result === 'object' && result !== null && typeof (result as { allow?: unknown }).allow === 'boolean') {
    const { allow, scopes, reason } = result as { allow: boolean; scopes?: unknown; reason?: unknown };
    if (!allow) return { allow: false, reason: typeof reason === 'string' ? reason : undefined };
    if (scopes === undefined) return { allow: true };
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) throw unavailable('OPA answered scopes that are not a list of strings');
    return { allow: true, scopes: scopes as string[] };
  }
  // An undefined document (no such package or rule) comes back without `result`: never an allow.
  if (result === undefined) throw unavailable('OPA has no decision at this path (is the policy loaded?)');
  throw unavailable('OPA answered a decision that is neither a boolean nor { allow: boolean }');
}

/**
 * An issuance policy that asks an Open Policy Agent server: `POST {url}/v1/data/{path}` with
 * `{"input": PolicyInput}` (OPA's Data API), and reads `result`. OPA down, slow (`timeoutMs`),
 * answering an error or no decision: 503 `policy_unavailable`, never an allow.
 */
export function createOpaPolicy(options: OpaPolicyOptions): IssuancePolicy {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new TypeError(`options.url must be an absolute http(s) URL (got ${JSON.stringify(options.url)})`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`options.url must be an absolute http(s) URL (got ${JSON.stringify(options.url)})`);
  if (typeof options.path !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/.test(options.path)) {
    throw new TypeError('options.path must be a slash-separated OPA document path, e.g. "aauth/issuance/decision"');
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new TypeError('options.timeoutMs must be a positive integer');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new TypeError('options.fetch must be a function');
  const send = options.fetch ?? globalThis.fetch;
  const endpoint = new URL(`v1/data/${options.path}`, base.href.endsWith('/') ? base.href : `${base.href}/`).href;

  return async (input: PolicyInput): Promise<PolicyDecision> => {
    let text: string;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await send(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ input }),
        redirect: 'error',
        signal,
      });
      text = await response.text();
      if (!response.ok) throw unavailable(`OPA answered HTTP ${response.status}`);
      if (text.length > MAX_ANSWER_BYTES) throw unavailable('OPA answered more than 64 KiB');
    } catch (error) {
      if (error instanceof AAuthError) throw error;
      if (signal.aborted) throw unavailable(`OPA did not answer within ${timeoutMs} ms`, error);
      throw unavailable(`OPA could not be reached at ${base.origin}`, error);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      throw unavailable('OPA answered something that is not JSON', error);
    }
    if (typeof doc !== 'object' || doc === null) throw unavailable('OPA answered something that is not a JSON object');
    return decisionOf((doc as { result?: unknown }).result);
  };
}

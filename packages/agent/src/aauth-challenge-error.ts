import { AAuthError, type AAuthErrorCode, type Challenge } from '@aauth-kit/core';
import { downstreamStatus } from './lib/downstream-status.js';
import { redact } from './lib/http.js';

/** Options of {@link AAuthChallengeError}. */
export interface AAuthChallengeErrorOptions {
  /** The parsed challenge; undefined when the header itself was malformed. */
  challenge: Challenge | undefined;
  /** The resource's response. */
  response: Response;
  /** The response body as text, when it was read (the agent reads at most 64 KiB, for at most 3 s). */
  body?: string | undefined;
  cause?: unknown;
}

function jsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A 401 challenge this agent cannot (or must not) satisfy: no resource token, an untrusted auth
 * server, a resource token issued to someone else, an unknown requirement. Holds the parsed
 * challenge and the resource's response, and its message ends with the resource's own reason (its
 * `error`, `error_description` and any `Signature-Error`): a challenge without a resource token is
 * usually the resource saying why it could not verify this agent (clock, key, metadata). Its
 * `status` is always 5xx (502): for the app that made the call, a downstream call failed.
 */
export class AAuthChallengeError extends AAuthError {
  /** The parsed challenge; undefined when the header itself was malformed. */
  readonly challenge: Challenge | undefined;
  /** The resource's response; its body, as far as the agent read it, can be read again. */
  readonly response: Response;
  /** The response body as text (at most 64 KiB); undefined when it was not read. */
  readonly body: string | undefined;
  /** The resource's wire `error` (from a JSON body), token-shaped text removed. */
  readonly resourceError: string | undefined;
  /** The resource's `error_description` (from a JSON body), token-shaped text removed. */
  readonly resourceErrorDescription: string | undefined;
  /** The resource's `Signature-Error` header (wire profile section 11), if any. */
  readonly signatureError: string | undefined;

  constructor(code: AAuthErrorCode, message: string, options: AAuthChallengeErrorOptions) {
    const doc = jsonObject(options.body);
    const resourceError = typeof doc?.error === 'string' ? redact(doc.error) : undefined;
    const resourceErrorDescription = typeof doc?.error_description === 'string' ? redact(doc.error_description) : undefined;
    const header = options.response.headers.get('signature-error');
    const signatureError = header === null ? undefined : redact(header);
    let reason = [resourceError, resourceErrorDescription].filter(Boolean).join(': ');
    // Not the kit's JSON: show the start of whatever the resource sent (an HTML page, plain text).
    if (doc === undefined && options.body !== undefined && options.body.trim().length > 0) reason = redact(options.body.trim());
    if (signatureError !== undefined) reason += `${reason ? ' ' : ''}(Signature-Error: ${signatureError})`;
    const full = `${message}; the resource answered ${options.response.status}${reason ? ` ${reason}` : ''}`;
    super(code, full, {
      status: downstreamStatus(code),
      details: { status: options.response.status, error: resourceError, error_description: resourceErrorDescription, signature_error: signatureError },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.challenge = options.challenge;
    this.response = options.response;
    this.body = options.body;
    this.resourceError = resourceError;
    this.resourceErrorDescription = resourceErrorDescription;
    this.signatureError = signatureError;
  }
}

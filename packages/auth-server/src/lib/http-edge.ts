import type { ServerResponse } from 'node:http';
import { AAuthError, isAAuthError } from '@aauth-kit/core';
import { sendError } from '@aauth-kit/core/internal';
import type { ErrorRequestHandler } from 'express';

/**
 * Answer a refusal of the token, pending or OAuth endpoint (wire profile section 8, RFC 6749
 * section 5.2): core's one error response, never cached, plus `headers` (the OAuth endpoint's
 * `Pragma`). Anything but an `AAuthError` is a bug: `internal_error` (500) with a warning, and
 * the body says no more.
 */
export function sendRefusal(res: ServerResponse, error: unknown, warn: (message: string) => void, headers: Readonly<Record<string, string>> = {}): void {
  let e: AAuthError;
  if (isAAuthError(error)) e = error;
  else {
    warn(`unexpected error: ${(error as Error)?.stack ?? String(error)}`);
    e = new AAuthError('internal_error', 'The auth server failed to process the request');
  }
  sendError(res, e, { 'Cache-Control': 'no-store', ...headers });
}

/** A body parser's failure as the kit's error (413 `body_too_large`, else 400 `invalid_request`), or undefined when it is none. */
export function bodyReadError(error: unknown, limit: string): AAuthError | undefined {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (status === 413) return new AAuthError('body_too_large', `The request body is larger than ${limit}`);
  // Not every 4xx that reaches here is the body's: express's router refuses a path whose
  // percent-encoding does not decode (a URIError with status 400) before any parser ran.
  if (error instanceof URIError) return new AAuthError('invalid_request', 'The request path is not valid percent-encoding');
  return new AAuthError('invalid_request', 'The request body could not be read');
}

/** Express error middleware for an endpoint's body parser: its failures are JSON refusals (with `headers`), never express's 500 page. */
export function bodyErrorHandler(maxBodyBytes: number, warn: (message: string) => void, headers: Readonly<Record<string, string>> = {}): ErrorRequestHandler {
  return (error, _req, res, next) => {
    const refusal = bodyReadError(error, `${maxBodyBytes} bytes`);
    if (refusal) sendRefusal(res, refusal, warn, headers);
    else next(error);
  };
}

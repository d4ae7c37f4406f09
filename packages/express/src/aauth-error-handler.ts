import { AAuthError } from '@aauth-kit/core';
import { sendError, sendProblem } from '@aauth-kit/core/internal';
import { isDraft11Error } from './lib/draft11.js';
import type { ErrorRequestHandler } from 'express';
import { refuseRequestAsOptions } from './lib/factory-misuse.js';

/** The `AAuthError` behind `error`: itself, or the `cause` of a wrapper such as got's `RequestError`. */
function aauthErrorOf(error: unknown): AAuthError | undefined {
  if (error instanceof AAuthError) return error;
  const cause = (error as { cause?: unknown } | null | undefined)?.cause;
  return cause instanceof AAuthError ? cause : undefined;
}

/**
 * Express error handler that answers every `AAuthError` as JSON `{"error","error_description"}`
 * with its `status` and `headers` (a refusal of a -11 caller as `application/problem+json`
 * `{"error","detail"}`, draft-11 profile section 5), and passes anything else on. Mount it last. The resource's own
 * refusals (`errors: 'next'`) keep their 401 and `AAuth` challenge; an error thrown by
 * `agent.fetch` in a route (a downstream call failed) answers 502 or 504, never 401 or 403, so the
 * route's caller does not drop its valid token. Express's default handler would send HTML.
 */
export function aauthErrorHandler(): ErrorRequestHandler {
  // eslint-disable-next-line prefer-rest-params -- what express passed when it was mounted uncalled
  refuseRequestAsOptions(arguments[0], 'aauthErrorHandler', 'app.use(aauthErrorHandler())');
  return function aauthErrorHandler(error, _req, res, next) {
    const e = aauthErrorOf(error);
    if (e === undefined || res.headersSent) {
      next(error);
      return;
    }
    if (isDraft11Error(e)) sendProblem(res, e);
    else sendError(res, e);
  };
}

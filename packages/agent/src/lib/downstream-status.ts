import { type AAuthErrorCode, ERRORS } from '@aauth-kit/core';

/**
 * The status of an error the agent throws: the table's when it is 5xx, else 502. Codes the agent
 * shares with resources and auth servers (`token_*` about a resource token, `pending_not_found`,
 * `body_too_large`) are 4xx in the table because that is what those servers answer; thrown by the
 * agent they mean a downstream call failed, and an app's error handler must not pass a 401 or 403
 * on to its own caller (issue 11, item 5).
 */
export function downstreamStatus(code: AAuthErrorCode): number {
  const status = ERRORS[code][0];
  return status >= 500 ? status : 502;
}

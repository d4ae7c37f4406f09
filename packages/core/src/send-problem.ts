import type { ServerResponse } from 'node:http';
import { PROBLEM_JSON, type AAuthError } from './errors.js';

/**
 * Answer `error` as -11 does (draft-11 profile section 5, RFC 9457): its `status`, its `headers`
 * plus `headers` (a `Signature-Error`, an `AAuth-Requirement`, ...), and the body
 * `application/problem+json` `{"error","detail","status"[,"type"]}` from `error.toProblemJSON()`.
 */
export function sendProblem(res: ServerResponse, error: AAuthError, headers: Readonly<Record<string, string>> = {}): void {
  const body = Buffer.from(JSON.stringify(error.toProblemJSON()));
  res.statusCode = error.status;
  for (const [name, value] of Object.entries({ ...error.headers, ...headers })) res.setHeader(name, value);
  res.setHeader('Content-Type', PROBLEM_JSON);
  res.setHeader('Content-Length', body.length);
  // RFC 9110 section 9.3.2: a HEAD response carries the headers of the GET response and no content.
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

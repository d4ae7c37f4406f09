import type { ServerResponse } from 'node:http';
import { PROBLEM_JSON, type AAuthError } from './errors.js';
import { sendJson } from './send-json.js';

/**
 * Answer `error` as -11 does (draft-11 profile section 5, RFC 9457): its `status`, its `headers`
 * plus `headers` (a `Signature-Error`, an `AAuth-Requirement`, ...), and the body
 * `application/problem+json` `{"error","detail","status"[,"type"]}` from `error.toProblemJSON()`.
 */
export function sendProblem(res: ServerResponse, error: AAuthError, headers: Readonly<Record<string, string>> = {}): void {
  sendJson(res, error.status, error.toProblemJSON(), { ...error.headers, ...headers }, PROBLEM_JSON);
}

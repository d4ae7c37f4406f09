import type { ServerResponse } from 'node:http';
import type { AAuthError } from './errors.js';
import { sendJson } from './send-json.js';

/**
 * Answer `error` on a node:http (or express) response: its `status`, its `headers` (an `AAuth`
 * challenge, `WWW-Authenticate`, ...) plus `headers`, and the JSON body `{"error","error_description"}`
 * (wire profile sections 5 and 8). The one error -> response edge of the express package and the auth server.
 */
export function sendError(res: ServerResponse, error: AAuthError, headers: Readonly<Record<string, string>> = {}): void {
  sendJson(res, error.status, error.toJSON(), { ...error.headers, ...headers });
}

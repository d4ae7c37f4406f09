import type { ServerResponse } from 'node:http';
import type { AAuthError } from './errors.js';

/**
 * Answer `error` on a node:http (or express) response: its `status`, its `headers` (an `AAuth`
 * challenge, `WWW-Authenticate`, ...) plus `headers`, and the JSON body `{"error","error_description"}`
 * (wire profile sections 5 and 8). The one error -> response edge of the express package and the auth server.
 */
export function sendError(res: ServerResponse, error: AAuthError, headers: Readonly<Record<string, string>> = {}): void {
  const body = Buffer.from(JSON.stringify(error.toJSON()));
  res.statusCode = error.status;
  for (const [name, value] of Object.entries({ ...error.headers, ...headers })) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  // RFC 9110 section 9.3.2: a HEAD response carries the headers of the GET response and no content.
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

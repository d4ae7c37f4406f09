import type { ServerResponse } from 'node:http';

/**
 * Answer `status` with `body` as JSON on a node:http (or express) response: `headers`, then the
 * content type and length, written straight to node's response (no ETag or charset work of express's
 * `res.json`); headers set earlier are kept. A HEAD response carries the headers and no content
 * (RFC 9110 section 9.3.2). The one JSON edge under {@link sendError}, `sendProblem` and the auth
 * server's token answer.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
  contentType = 'application/json; charset=utf-8',
): void {
  // An answer already went out (e.g. 408 body_timeout while a parser still waited): nothing more to say.
  if (res.headersSent) return;
  const bytes = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  for (const name in headers) res.setHeader(name, headers[name]!);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', bytes.length);
  res.end(res.req?.method === 'HEAD' ? undefined : bytes);
}

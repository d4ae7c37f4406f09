import type { IncomingMessage, ServerResponse } from 'node:http';
import { AAuthError } from './errors.js';
import { sendError } from './send-error.js';

/** A framework-free request handler: a `node:http` listener, or express middleware when given `next`. */
export type DocumentHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/**
 * Serve JSON documents by exact path (the query is ignored) on GET and HEAD, publicly cacheable
 * for 5 minutes; anything else goes to `next()`, or is a 404 / 405 without it. The one
 * well-known and JWKS edge of the kit: agents, resources and the auth server's issuer metadata.
 */
export function serveDocuments(documents: Readonly<Record<string, unknown>>, label = 'serveDocuments()'): DocumentHandler {
  const bodies = new Map<string, Buffer>();
  for (const [path, document] of Object.entries(documents)) {
    if (!path.startsWith('/')) throw new TypeError(`${label}: document path ${JSON.stringify(path)} must start with /`);
    bodies.set(path, Buffer.from(JSON.stringify(document)));
  }
  return function serve(req, res, next) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const body = bodies.get(q === -1 ? url : url.slice(0, q));
    const method = req.method ?? 'GET';
    if (body === undefined || (method !== 'GET' && method !== 'HEAD')) {
      if (next) {
        next();
        return;
      }
      // A plain node:http listener: nothing else to hand the request to.
      const what = `${method} ${url.slice(0, 200)} is not served here`;
      if (body === undefined) sendError(res, new AAuthError('route_not_found', what));
      else sendError(res, new AAuthError('method_not_allowed', what), { Allow: 'GET, HEAD' });
      return;
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.setHeader('Content-Length', body.length);
    res.end(method === 'HEAD' ? undefined : body);
  };
}

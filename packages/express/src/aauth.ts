import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createResource } from './create-resource.js';
import { refuseRequestAsOptions } from './lib/factory-misuse.js';
import type { RequireOptions, Resource, ResourceOptions } from './types.js';

/** Options of {@link aauth}: the resource's options and one requirement for every route it guards. */
export type AAuthOptions = ResourceOptions & RequireOptions;

/**
 * One-line shorthand: `app.use(aauth({ identity, key, ... }))` serves the metadata and JWKS and
 * guards everything else with `resource.require({ level, scope })`. The resource is on `.resource`.
 */
export function aauth(options: AAuthOptions): RequestHandler & { resource: Resource } {
  refuseRequestAsOptions(options, 'aauth', "app.use(aauth({ identity, key, level: 'identity' }))");
  const { level, scope, requiredComponents, deferred, ...resourceOptions } = options ?? ({} as AAuthOptions);
  const resource = createResource(resourceOptions);
  const guard = resource.require({
    ...(level === undefined ? {} : { level }),
    ...(scope === undefined ? {} : { scope }),
    ...(requiredComponents === undefined ? {} : { requiredComponents }),
    ...(deferred === undefined ? {} : { deferred }),
  });
  const published = resource.wellKnown();
  // -11 deferred calls are polled at the resource's pending URLs (draft11.pendingPath).
  const pending = deferred === true ? resource.pendingEndpoint() : undefined;
  const guarded = (req: Request, res: Response, next: NextFunction): void => {
    if (pending) void pending(req, res, (error?: unknown) => (error !== undefined ? next(error) : void guard(req, res, next)));
    else void guard(req, res, next);
  };
  // The published paths, matched with one string compare: every other request goes straight to
  // the guard instead of through the well-known handler (issue 18: ~10 us a request).
  const paths = new Set(Object.keys(published.documents));
  const handler = (req: Request, res: Response, next: NextFunction): void => {
    const url = req.url;
    const q = url.indexOf('?');
    if (!paths.has(q === -1 ? url : url.slice(0, q)) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      guarded(req, res, next);
      return;
    }
    published(req, res, (error?: unknown) => {
      if (error !== undefined && error !== 'route' && error !== 'router') next(error);
      else guarded(req, res, next);
    });
  };
  return Object.assign(handler, { resource });
}

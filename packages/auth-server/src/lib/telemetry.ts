import { callId, createTelemetry, TELEMETRY_ATTRIBUTES as A, type Telemetry, type TelemetryOptions } from '@aauth-kit/core/internal';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuditEvent } from '../audit-event.js';
import { completeAuditEvent } from './audit.js';
import type { RealmConfig } from '../load-realm.js';
import { VERSION } from './version.js';

// The auth server's spans (issue 19, docs/telemetry.md): `aauth.token_issue` around every request
// to an issuing endpoint, a child of the agent's `traceparent`; what was decided comes from the
// audit event the endpoint emits (one point for every endpoint: issued, pending or refused, the
// policy decision, scopes asked and granted, the agent chain, the jti). Never a token.

/** The issuing endpoints by path, and the `aauth.endpoint` of each (the agent's names where they exist). */
const ENDPOINTS: readonly [RegExp, string][] = [
  [/\/protocol\/aauth\/token$/, 'token'],
  [/\/protocol\/aauth\/pending\/[^/]+$/, 'pending'],
  [/\/protocol\/openid-connect\/token$/, 'rfc8693'],
  [/^\/aauth\/person\/person-token$/, 'person'],
  [/^\/aauth\/person\/auth-token$/, 'auth'],
  [/^\/aauth\/person\/pending\/[^/]+$/, 'pending'],
  [/^\/aauth\/access\/auth-token$/, 'access'],
];

const OUTCOME: Partial<Record<AuditEvent['type'], string>> = {
  'token.issued': 'issued',
  'token.exchanged': 'issued',
  'token.refreshed': 'issued',
  'consent.required': 'pending',
  'request.refused': 'refused',
};

export interface AuthServerTelemetry {
  /** Express middleware: an `aauth.token_issue` server span around each request to an issuing endpoint (none when tracing is off). */
  middleware: RequestHandler;
  /** `emit` that first records the decision of `event` on the request's span. */
  audit(emit: (event: AuditEvent) => void): (event: AuditEvent) => void;
}

/**
 * The auth server's tracer, `@aauth-kit/auth-server`; `origin` is the origin of its `baseUrl`, the
 * one `url.full` names (never the request's Host header, which the client chooses).
 */
export function authServerTelemetry(options: TelemetryOptions | undefined, realm: Pick<RealmConfig, 'name' | 'users'>, origin: string): AuthServerTelemetry {
  const telemetry: Telemetry = createTelemetry('@aauth-kit/auth-server', VERSION, options);

  function middleware(req: Request, res: Response, next: NextFunction): void {
    if (!telemetry.live()) return next();
    const path = req.path;
    const endpoint = ENDPOINTS.find(([pattern]) => pattern.test(path))?.[1];
    if (endpoint === undefined) return next();
    const signature = req.headers.signature;
    void telemetry.span(
      'aauth.token_issue',
      'server',
      {
        [A.endpoint]: endpoint,
        [A.generation]: path.startsWith('/aauth/') ? 'draft-11' : 'keycloak',
        [A.httpMethod]: req.method,
        [A.url]: `${origin}${path}`,
        [A.callId]: typeof signature === 'string' ? callId(signature) : undefined,
      },
      (span) =>
        // The span lasts until the answer is sent: the route's handlers run inside it.
        new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('finish', done);
            res.off('close', done);
            span.set({ [A.httpStatus]: res.statusCode });
            if (res.statusCode >= 500) span.refuse('internal_error', `HTTP ${res.statusCode}`);
            resolve();
          };
          res.once('finish', done);
          res.once('close', done);
          next();
        }),
      req.headers,
    );
  }

  function audit(emit: (event: AuditEvent) => void): (event: AuditEvent) => void {
    return (event) => {
      const span = telemetry.active();
      if (span.recording) {
        const e = completeAuditEvent(event, realm);
        const outcome = OUTCOME[e.type];
        if (outcome !== undefined) {
          span.set({
            [A.outcome]: outcome,
            [A.policyDecision]: e.decision,
            [A.policyReason]: e.type === 'request.refused' ? e.reason?.slice(0, 200) : undefined,
            [A.agent]: e.agent ?? e.actor ?? e.client,
            [A.resource]: e.resource,
            [A.scopeRequested]: e.scopesRequested?.length ? e.scopesRequested.join(' ') : undefined,
            [A.scope]: e.scopesGranted?.length ? e.scopesGranted.join(' ') : undefined,
            [A.chain]: e.chain?.join(' '),
            [A.tokenJti]: e.jti,
            [A.subject]: telemetry.recordSubject ? e.sub : undefined,
          });
          if (e.type === 'request.refused' && e.code !== undefined) span.refuse(e.code, e.reason?.slice(0, 200));
        } else if (e.type === 'consent.granted' || e.type === 'consent.denied') {
          span.event('aauth.interaction.decision', { [A.outcome]: e.type === 'consent.granted' ? 'approved' : 'denied' });
        }
      }
      emit(event);
    };
  }

  return { middleware, audit };
}

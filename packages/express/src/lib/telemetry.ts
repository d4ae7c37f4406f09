import { decodeToken, parseChallenge, type AAuthError } from '@aauth-kit/core';
import { callId, createTelemetry, TELEMETRY_ATTRIBUTES as A, type SpanHandle, type Telemetry, type TelemetryOptions } from '@aauth-kit/core/internal';
import type { Request, RequestHandler } from 'express';
import type { AAuthInfo } from '../types.js';
import { VERSION } from './version.js';

// The resource's span (issue 19, docs/telemetry.md): `aauth.verify` around the middleware, a child
// of the caller's `traceparent`, with the outcome of the verification and the challenge issued.
// Without an SDK the middleware runs unwrapped: no span, no header read, no allocation.

export interface ResourceTelemetry {
  /** `guard` inside an `aauth.verify` span when tracing is live; `guard` itself otherwise. */
  traced(guard: RequestHandler): RequestHandler;
  /** Whether spans are being made (a tracer is installed and on). */
  live(): boolean;
  /** Record a refusal (and the challenge it carries) on the request's `aauth.verify` span. */
  refused(error: AAuthError): void;
}

const NONE = Object.freeze({});

/** A string header's first value. */
const header = (req: Request, name: string): string | undefined => {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
};

/** A token's claims without verifying it (for its `jti`: the token itself is never recorded). */
function claimsOf(token: string | undefined): Record<string, unknown> | undefined {
  if (token === undefined) return undefined;
  try {
    return decodeToken(token).claims;
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The resource's tracer, `@aauth-kit/express`, for the resource `identity`. */
export function resourceTelemetry(options: TelemetryOptions | undefined, identity: string, origin: string): ResourceTelemetry {
  const telemetry: Telemetry = createTelemetry('@aauth-kit/express', VERSION, options);

  /** What is known from the request alone: method, URL without query, the call id and scheme of its signature. */
  function requestAttributes(span: SpanHandle, req: Request): void {
    const signature = header(req, 'signature');
    // `sig=(scheme=jwks_uri ...)` (Keycloak profile) or `sig=jwt;jwt="..."` (-11 dictionary form).
    const scheme = /^[^=]+=\s*(?:\(\s*scheme=)?([A-Za-z0-9_]+)/.exec(header(req, 'signature-key') ?? '')?.[1];
    const path = req.originalUrl.split('?')[0];
    span.set({
      [A.httpMethod]: req.method,
      [A.url]: `${origin}${path}`,
      [A.resource]: identity,
      [A.callId]: signature === undefined ? undefined : callId(signature),
      [A.scheme]: scheme,
    });
  }

  function verified(span: SpanHandle, info: AAuthInfo): void {
    const token = info.token;
    const jti = token === undefined ? undefined : ((token as { jti?: string }).jti ?? str(claimsOf(token.raw)?.jti));
    span.set({
      [A.outcome]: 'verified',
      [A.generation]: info.generation,
      [A.scheme]: info.scheme,
      [A.agent]: info.agent,
      [A.scope]: info.scope.length > 0 ? info.scope.join(' ') : undefined,
      [A.tokenJti]: jti,
      [A.subject]: telemetry.recordSubject ? (info.sub ?? token?.sub) : undefined,
    });
  }

  return {
    live: () => telemetry.live(),
    traced(guard) {
      return (req, res, next) => {
        if (!telemetry.live()) return guard(req, res, next);
        return telemetry.span(
          'aauth.verify',
          'server',
          NONE,
          async (span) => {
            if (span.recording) requestAttributes(span, req);
            await guard(req, res, next);
            if (span.recording && req.aauth !== undefined) verified(span, req.aauth);
          },
          req.headers,
        );
      };
    },
    refused(error) {
      const span = telemetry.active();
      if (!span.recording) return;
      let challenge: ReturnType<typeof parseChallenge>;
      try {
        challenge = parseChallenge(error.headers);
      } catch {
        challenge = undefined;
      }
      span.set({ [A.generation]: error.details?.generation === 'draft-11' ? 'draft-11' : 'keycloak', [A.httpStatus]: error.status });
      if (challenge !== undefined && error.status === 401) {
        // A challenge is the normal first answer to an agent: its code, not an error status.
        const rt = claimsOf(challenge.resourceToken);
        span.set({ [A.outcome]: 'challenged', [A.errorCode]: error.code, [A.agent]: str(rt?.agent) });
        span.event('aauth.challenge', {
          [A.require]: challenge.require,
          [A.authServer]: challenge.authServer ?? str(rt?.aud),
          [A.scope]: str(rt?.scope),
          [A.tokenJti]: str(rt?.jti),
        });
      } else {
        span.set({ [A.outcome]: 'refused' });
        span.refuse(error.code, error.message);
      }
    },
  };
}

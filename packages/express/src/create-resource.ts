import {
  AAuthError,
  buildChallenge,
  computeThumbprint,
  createWellKnownHandler,
  hasScopes,
  mintResourceToken,
  type RequireLevel as ChallengeLevel,
  type WellKnownHandler,
} from '@aauth-kit/core';
import { SIGNATURE_SCHEMES, buildRequirement, sendError, toHttpRequest } from '@aauth-kit/core/internal';
import { callerOf, createVerifier, type VerifiedRequest } from '@aauth-kit/verifier';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { resolveResourceOptions } from './lib/options.js';
import { readRawBody } from './lib/raw-body.js';
import type { AAuthInfo, RequireLevel, RequireOptions, Resource, ResourceOptions, WellKnownOptions } from './types.js';

const WIRE_LEVEL: Record<RequireLevel, ChallengeLevel> = { signature: 'pseudonym', identity: 'identity', 'auth-token': 'auth-token' };

function toInfo(v: VerifiedRequest): AAuthInfo {
  const info: AAuthInfo = { scheme: v.scheme, agent: v.agent, thumbprint: v.thumbprint, jwk: v.key.jwk, scope: [] };
  if (v.token) {
    const t = v.token;
    info.token = { raw: t.raw, issuer: t.issuer, scope: t.scope, exp: t.expiresAt };
    if (t.subject !== undefined) info.token.sub = info.sub = t.subject;
    if (t.agent !== undefined) info.token.agent = t.agent;
    if (t.act !== undefined) info.token.act = info.act = t.act;
    info.scope = t.scope;
  }
  return info;
}

/**
 * Create an AAuth resource for express: route middleware that verifies signed requests and answers
 * with the challenges of wire profile section 5, and a router serving its metadata and JWKS.
 */
export function createResource(options: ResourceOptions): Resource {
  const o = resolveResourceOptions(options);
  const verifier = createVerifier(o.verifierOptions);
  const metadata: Record<string, unknown> = { resource: o.identity, jwks_uri: `${o.identity}/jwks.json` };
  if (o.scopes) {
    metadata.supported_scopes = Object.keys(o.scopes);
    metadata.scope_descriptions = o.scopes;
  }
  if (o.additionalSignatureComponents.length > 0) metadata.additional_signature_components = o.additionalSignatureComponents;

  /** Rebuild `error` with the challenge headers of section 5 (and section 11 when enabled). */
  async function challenge(
    error: AAuthError,
    level: RequireLevel,
    scope: string[],
    caller: { agent: string; thumbprint: string } | undefined,
  ): Promise<AAuthError> {
    const headers: Record<string, string> = {};
    const require = error.code === 'identity_required' ? 'identity' : WIRE_LEVEL[level];
    let resourceToken: string | undefined;
    // A resource token is minted only for a caller whose key this resource verified (section 6).
    if (level === 'auth-token' && caller && o.authServer && error.error === 'invalid_auth_token') {
      resourceToken = await mintResourceToken(o.key, {
        issuer: o.identity,
        audience: o.authServer,
        agent: caller.agent,
        agentJkt: caller.thumbprint,
        scope: scope.join(' '),
        now: o.now,
      });
    }
    const authServer = level === 'auth-token' ? o.authServer : undefined;
    headers.AAuth = buildChallenge({
      require,
      ...(resourceToken === undefined ? {} : { resourceToken }),
      ...(authServer === undefined ? {} : { authServer }),
    });
    if (o.requirementHeader) {
      headers['AAuth-Requirement'] = buildRequirement({ require, ...(resourceToken === undefined ? {} : { resourceToken }) });
    }
    if (error.code === 'unsupported_scheme') {
      headers['Signature-Error'] = 'error=unsupported_scheme';
      headers['Accept-Signature-Scheme'] = SIGNATURE_SCHEMES.join(', ');
    } else if (o.requirementHeader && error.error === 'invalid_signature') {
      headers['Signature-Error'] = 'error=invalid_signature';
    }
    return new AAuthError(error.code, error.message, { headers, cause: error.cause, ...(error.details ? { details: error.details } : {}) });
  }

  /** The per-caller discovery key (issue 13): the operator's `callerKey`, else the TCP peer. */
  function callerOfRequest(req: Request): string {
    const key = o.callerKey(req);
    return typeof key === 'string' && key.length > 0 ? key : (req.socket.remoteAddress ?? 'unknown');
  }

  function respond(error: AAuthError, req: Request, res: Response, next: NextFunction): void {
    // The normal first challenge (a well-signed request without an auth token) is no error.
    if (o.onError && error.code !== 'auth_token_required') {
      try {
        o.onError(error, req);
      } catch {
        // A failing logger must not turn a 401 into a 500.
      }
    }
    if (o.errors === 'next' || res.headersSent) {
      next(error);
      return;
    }
    sendError(res, error);
  }

  function require(routeOptions: RequireOptions = {}): RequestHandler {
    const route = o.resolveRoute(routeOptions);
    return async function aauthRequire(req: Request, res: Response, next: NextFunction): Promise<void> {
      let verified: VerifiedRequest;
      try {
        const request = toHttpRequest(req, o.origin, await readRawBody(req, o.maxBodyBytes));
        try {
          verified = await verifier.verify(request, { requiredComponents: route.requiredComponents, caller: callerOfRequest(req) });
        } catch (error) {
          if (!(error instanceof AAuthError)) throw error;
          const caller = callerOf(error);
          // Limits and malformed input keep their own status (413, 431, 400) and get no challenge.
          if (error.status !== 401) throw error;
          throw await challenge(error, route.level, route.scope, caller);
        }
        if (route.level === 'identity' && verified.scheme === 'hwk') {
          throw await challenge(new AAuthError('identity_required'), route.level, route.scope, undefined);
        }
        if (route.level === 'auth-token') {
          if (!verified.token) {
            // Wire profile section 5: the missing-token case is `invalid_auth_token` "Authorization required".
            const how = `Authorization required: this route needs an auth token with scope "${route.scope.join(' ')}". Take the resource token of the AAuth header to the auth server ${o.authServer} and retry with the auth token it returns (Signature-Key scheme=jwt); an @aauth-kit/agent does this by itself`;
            throw await challenge(new AAuthError('auth_token_required', how), route.level, route.scope, verified);
          }
          if (!hasScopes(verified.token.scope, route.scope)) {
            throw new AAuthError('insufficient_scope', `The auth token does not carry the scope ${route.scope.filter((s) => !verified.token!.scope.includes(s)).join(' ')}`);
          }
        }
      } catch (error) {
        if (error instanceof AAuthError) respond(error, req, res, next);
        else next(error);
        return;
      }
      req.aauth = toInfo(verified);
      next();
    };
  }

  const resourcePaths = ['/.well-known/aauth-resource.json', '/.well-known/aauth-resource'];
  const resourceDocuments = Object.fromEntries(resourcePaths.map((path) => [path, metadata]));

  function wellKnown(wellKnownOptions: WellKnownOptions = {}): WellKnownHandler {
    if (typeof wellKnownOptions !== 'object' || wellKnownOptions === null) throw new TypeError('resource.wellKnown(options): options must be an object');
    const { agent } = wellKnownOptions;
    if (agent === undefined) {
      return createWellKnownHandler({ documents: resourceDocuments, keys: [o.key.toPublishedJwk()], label: 'resource.wellKnown()' });
    }
    // An app that is resource and agent under one identity: one JWKS with both keys (section 2),
    // both metadata documents (section 9), both naming the same jwks_uri.
    if (typeof agent !== 'object' || agent === null || typeof agent.wellKnown !== 'function') {
      throw new TypeError('resource.wellKnown(options): options.agent must be an agent from createAgent() (@aauth-kit/agent)');
    }
    if (agent.identity === undefined) {
      throw new TypeError('resource.wellKnown(options): options.agent has no identity (a pseudonymous agent publishes nothing)');
    }
    if (!sameIdentity(agent.identity)) {
      throw new TypeError(
        `resource.wellKnown(options): options.agent.identity (${agent.identity}) must be the resource identity (${o.identity}): ` +
          'both documents and the one JWKS are served from this mount point; mount agent.wellKnown() at its own identity path instead',
      );
    }
    const published = agent.wellKnown();
    const resourceJwk = o.key.toPublishedJwk();
    const clash = published.keys.find((k) => k.kid === resourceJwk.kid && computeThumbprint(k) !== o.key.thumbprint);
    if (clash) {
      throw new TypeError(
        `resource.wellKnown(options): the agent key and the resource key are different keys with the same kid ${JSON.stringify(clash.kid)}; ` +
          'give each its own kid (generateKey({ kid }) or loadKeyFile(path, { kid }))',
      );
    }
    const documents: Record<string, unknown> = { ...resourceDocuments };
    for (const [path, document] of Object.entries(published.documents)) if (path.startsWith('/.well-known/')) documents[path] = document;
    return createWellKnownHandler({ documents, keys: [resourceJwk, ...published.keys], label: 'resource.wellKnown({ agent })' });
  }

  function sameIdentity(other: string): boolean {
    const normal = (url: string): string => {
      try {
        return new URL(url).href.replace(/\/$/, '');
      } catch {
        return url;
      }
    };
    return normal(other) === normal(o.identity);
  }

  return { require, wellKnown, verifier, metadata };
}

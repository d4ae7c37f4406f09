import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AAuthError, isAAuthError, type AAuthErrorCode } from '@aauth-kit/core';
import { isLocalHostname } from '@aauth-kit/core/internal';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { PendingRequest } from '../pending-store.js';
import { refusalOf } from './audit.js';
import { MAX_NAME, consentDetails, displayText, type ConsentDetails } from './consent-details.js';
import type { ServerContext } from './context.js';
import { consentPage, loginPage, messagePage } from './html.js';
import { bodyReadError } from './http-edge.js';
import { verifyPassword } from './passwords.js';

interface Session {
  code: string;
  sub: string;
  username: string;
  csrf: string;
  expiresAt: number;
}

const SESSION_COOKIE = 'aauth_session';
const CSRF_COOKIE = 'aauth_csrf';
const MAX_SESSIONS = 10_000;
const MAX_FAILED_LOGINS = 10;
const MAX_CALLBACK = 2048;

/** The heading of the page a refusal is shown on (its text is the error's message); default 'Bad request'. */
const PAGE_TITLES: Partial<Record<AAuthErrorCode, string>> = {
  pending_not_found: 'Unknown request',
  consent_request_expired: 'Request expired',
  consent_already_decided: 'Already decided',
  consent_form_invalid: 'Form expired',
  login_locked: 'Too many attempts',
};

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

function sameText(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length === 0) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function field(source: unknown, name: string): string | undefined {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new AAuthError('consent_request_invalid', `The parameter ${name} must appear once.`);
  return value;
}

/** The callback must be an absolute http(s) URL; plain http only for local names (section 1's rule). */
function checkCallback(value: string | undefined): URL | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL | undefined;
  try {
    if (value.length <= MAX_CALLBACK) url = new URL(value);
  } catch {
    // Not a URL: refused below, as one that is too long.
  }
  if (url === undefined) throw new AAuthError('consent_callback_invalid', 'The callback is not an absolute URL.');
  if (url.username || url.password || !(url.protocol === 'https:' || (url.protocol === 'http:' && isLocalHostname(url.hostname)))) {
    throw new AAuthError('consent_callback_invalid', 'The callback must use https (or http to a local name) and carry no credentials.');
  }
  return url;
}

/**
 * The interaction endpoint (section 8): a user signs in with a realm user, sees the agent, the
 * resource and the scopes, and approves or denies; the browser then returns to the callback.
 */
export function createInteractionRouter(ctx: ServerContext): Router {
  const router = express.Router();
  const base = `${ctx.issuerPath}/protocol/aauth/interact`;
  const sessions = new Map<string, Session>();
  const failures = new Map<string, number>();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

  const cookie = (name: string, value: string, maxAge: number): string =>
    `${name}=${value}; Path=${base}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${ctx.secureCookies ? '; Secure' : ''}`;

  function send(res: Response, status: number, html: string, callback?: URL, details?: ConsentDetails): void {
    // Browsers apply form-action to the redirect after a form post, so the callback's origin is allowed too.
    const formAction = callback ? `'self' ${callback.origin}` : "'self'";
    // Logos from metadata (http(s) only, checked in consent-details) are the only images; scripts stay off.
    const logos = [...new Set([details?.agent.logo, details?.resource.logo].filter((u): u is URL => u !== undefined).map((u) => u.origin))];
    const imgSrc = logos.length > 0 ? `; img-src ${logos.join(' ')}` : '';
    res
      .status(status)
      .set({
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'${imgSrc}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
        'X-Frame-Options': 'DENY',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
      })
      .send(html);
  }

  /** A refusal as a page: the error's status, a heading for its code, its message. */
  function sendPage(res: Response, error: AAuthError): void {
    const title = error.code === 'internal_error' ? 'Something went wrong' : (PAGE_TITLES[error.code] ?? 'Bad request');
    send(res, error.status, messagePage(title, error.message));
  }

  function sweepSessions(): void {
    const now = ctx.now();
    for (const [id, s] of sessions) if (s.expiresAt < now) sessions.delete(id);
    while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
    if (failures.size > MAX_SESSIONS) failures.clear();
  }

  async function openRequest(codeParam: string | undefined): Promise<PendingRequest> {
    const code = (codeParam ?? '').trim().toUpperCase();
    if (!/^[A-Z0-9]{4,32}$/.test(code)) throw new AAuthError('consent_request_invalid', 'The link has no valid interaction code.');
    const request = await ctx.store.getByCode(code);
    if (!request) throw new AAuthError('pending_not_found', 'This request is unknown or was already completed.');
    if (request.expiresAt < ctx.now()) throw new AAuthError('consent_request_expired', 'This request has expired. Ask the agent to start again.');
    if (request.status !== 'pending') throw new AAuthError('consent_already_decided', 'This request was already approved or denied.');
    return request;
  }

  function currentSession(req: Request, code: string): [string, Session] | undefined {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = sessions.get(id);
    if (!session || session.expiresAt < ctx.now() || session.code !== code) return undefined;
    return [id, session];
  }

  const handle =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response): void => {
      fn(req, res).catch((error: unknown) => {
        if (!isAAuthError(error)) ctx.warn(`interaction page failed: ${(error as Error).message}`);
        sendPage(res, isAAuthError(error) ? error : new AAuthError('internal_error', 'The request could not be processed.'));
      });
    };

  async function renderLogin(res: Response, status: number, request: PendingRequest, callback: URL | undefined, error?: string): Promise<void> {
    const details = await consentDetails(ctx, request);
    const csrf = randomBytes(24).toString('base64url');
    res.append('Set-Cookie', cookie(CSRF_COOKIE, csrf, ctx.pendingLifetime));
    const fields: Record<string, string> = { code: request.code, csrf };
    if (callback) fields.callback = callback.href;
    const options = { realmName: ctx.realm.displayName, code: request.code, details, action: `${base}/login`, fields };
    send(res, status, loginPage(error === undefined ? options : { ...options, error }), callback, details);
  }

  router.get(
    base,
    handle(async (req, res) => {
      const callback = checkCallback(field(req.query, 'callback'));
      const request = await openRequest(field(req.query, 'code'));
      const current = currentSession(req, request.code);
      if (!current) {
        await renderLogin(res, 200, request, callback);
        return;
      }
      const session = current[1];
      const details = await consentDetails(ctx, request);
      const fields: Record<string, string> = { code: request.code, csrf: session.csrf };
      if (callback) fields.callback = callback.href;
      const realmUser = ctx.realm.users.find((u) => u.username === session.username);
      const user = { name: displayText(realmUser?.displayName, MAX_NAME) ?? session.username, username: session.username };
      const options = { realmName: ctx.realm.displayName, code: request.code, details, action: `${base}/decision`, fields, user };
      send(res, 200, consentPage(callback ? { ...options, callbackHost: callback.host } : options), callback, details);
    }),
  );

  router.post(
    `${base}/login`,
    form,
    handle(async (req, res) => {
      const callback = checkCallback(field(req.body, 'callback'));
      if (!sameText(field(req.body, 'csrf'), parseCookies(req.headers.cookie).get(CSRF_COOKIE))) {
        throw new AAuthError('consent_form_invalid', 'The sign-in form expired or did not come from this server. Open the link again.');
      }
      const request = await openRequest(field(req.body, 'code'));
      const failed = failures.get(request.code) ?? 0;
      if (failed >= MAX_FAILED_LOGINS) {
        throw new AAuthError('login_locked', 'Too many failed sign-in attempts for this request. Ask the agent to start again.');
      }
      const username = (field(req.body, 'username') ?? '').trim().toLowerCase();
      const password = field(req.body, 'password') ?? '';
      const user = ctx.realm.users.find((u) => u.username === username);
      if (!user || !user.enabled || !verifyPassword(user, password)) {
        failures.set(request.code, failed + 1);
        const refusal = new AAuthError('login_failed');
        ctx.audit({
          type: 'login.failed',
          time: ctx.now(),
          endpoint: 'interact',
          agent: request.agent,
          thumbprint: request.thumbprint,
          username: username.slice(0, 256),
          resource: request.resource,
          scope: request.scope,
          ...refusalOf(refusal),
        });
        await renderLogin(res, refusal.status, request, callback, `${refusal.message}.`);
        return;
      }
      sweepSessions();
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, {
        code: request.code,
        sub: user.id,
        username: user.username,
        csrf: randomBytes(24).toString('base64url'),
        expiresAt: Math.min(request.expiresAt, ctx.now() + ctx.pendingLifetime),
      });
      failures.delete(request.code);
      res.append('Set-Cookie', cookie(SESSION_COOKIE, id, ctx.pendingLifetime));
      res.append('Set-Cookie', cookie(CSRF_COOKIE, '', 0));
      const next = new URLSearchParams({ code: request.code });
      if (callback) next.set('callback', callback.href);
      res.redirect(303, `${base}?${next.toString()}`);
    }),
  );

  router.post(
    `${base}/decision`,
    form,
    handle(async (req, res) => {
      const callback = checkCallback(field(req.body, 'callback'));
      const decision = field(req.body, 'decision');
      if (decision !== 'approve' && decision !== 'deny') throw new AAuthError('consent_request_invalid', 'Choose Approve or Deny.');
      const request = await openRequest(field(req.body, 'code'));
      const current = currentSession(req, request.code);
      if (!current || !sameText(field(req.body, 'csrf'), current[1].csrf)) {
        throw new AAuthError('consent_form_invalid', 'Your sign-in expired or the form did not come from this server. Open the link again.');
      }
      const [sessionId, session] = current;
      const status = decision === 'approve' ? 'approved' : 'denied';
      const decided = await ctx.store.decide(request.id, { status, sub: session.sub, username: session.username });
      sessions.delete(sessionId);
      res.append('Set-Cookie', cookie(SESSION_COOKIE, '', 0));
      if (!decided) throw new AAuthError('consent_already_decided', 'This request was already approved or denied, or it expired.');
      ctx.audit({
        type: status === 'approved' ? 'consent.granted' : 'consent.denied',
        time: ctx.now(),
        endpoint: 'interact',
        agent: request.agent,
        thumbprint: request.thumbprint,
        sub: session.sub,
        username: session.username,
        resource: request.resource,
        scope: request.scope,
        ...(request.act !== undefined ? { act: request.act } : {}),
      });
      if (callback) {
        res.redirect(303, callback.href);
        return;
      }
      const text = status === 'approved' ? 'You approved the request. You can close this window.' : 'You denied the request. You can close this window.';
      send(res, 200, messagePage(status === 'approved' ? 'Approved' : 'Denied', text));
    }),
  );

  // Body-parser failures (oversized or malformed forms): a page with a 4xx, never express's default 500 page.
  router.use(base, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    const refusal = bodyReadError(error, '16 KiB');
    if (refusal) sendPage(res, new AAuthError(refusal.code, refusal.code === 'body_too_large' ? 'The form is too large.' : 'The form could not be read.'));
    else next(error);
  });

  return router;
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AAuthError, isAAuthError, normalizeInteractionCode, type AAuthErrorCode } from '@aauth-kit/core';
import { MAX_CLARIFICATION_ROUNDS, groupInteractionCode, isLocalHostname } from '@aauth-kit/core/internal';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { openQuestion, type PendingRequest } from '../pending-store.js';
import { refusalOf } from './audit.js';
import { MAX_NAME, clarificationText, consentDetails, displayText, type ConsentDetails } from './consent-details.js';
import type { ServerContext } from './context.js';
import { consentPage, loginPage, messagePage } from './html.js';
import { bodyReadError } from './http-edge.js';
import { BRUTE_FORCE_DEFAULTS } from './brute-force.js';
import { createPasswordCheck } from './passwords.js';
import type { InteractionSession as Session } from './interaction-sessions.js';

const SESSION_COOKIE = 'aauth_session';
const CSRF_COOKIE = 'aauth_csrf';
const MAX_FAILED_LOGINS = 10;
/** Interaction codes whose failed sign-ins are counted at once (per process). */
const MAX_COUNTED_CODES = 10_000;
const MAX_CALLBACK = 2048;
const CSRF_NONCE = /^[A-Za-z0-9_-]{32}$/;
/** The longest question, characters. */
const MAX_QUESTION = 2000;

/** The heading of the page a refusal is shown on (its text is the error's message); default 'Bad request'. */
const PAGE_TITLES: Partial<Record<AAuthErrorCode, string>> = {
  pending_not_found: 'Unknown request',
  consent_request_expired: 'Request expired',
  consent_already_decided: 'Already decided',
  consent_request_withdrawn: 'Request withdrawn',
  consent_form_invalid: 'Form expired',
  login_locked: 'Too many attempts',
  consent_lookup_throttled: 'Too many attempts',
  consent_user_mismatch: 'Another user\'s request',
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

/** True when `callback` is the registered redirect URI `entry`: same origin and path, and the same query when the entry has one. */
function matchesRedirectUri(entry: unknown, callback: URL): boolean {
  if (typeof entry !== 'string' || entry.length > MAX_CALLBACK) return false;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return false;
  }
  return url.origin === callback.origin && url.pathname === callback.pathname && (url.search === '' || url.search === callback.search);
}

/**
 * The code as the page shows it: a -11 request's as its agent shows it to the user (draft-11
 * profile section 7: groups of four, `EFR6-6ZXQ`; it is stored without the hyphens), so the two
 * can be compared at a glance; a Keycloak-profile code as it is.
 */
/** What became of a request that is no longer pending, as the consent page says it. */
function alreadyDecided(request: PendingRequest): string {
  if (request.status === 'withdrawn') return 'was withdrawn by the agent that asked: there is nothing left to approve';
  return request.status === 'approved' ? 'was already approved' : request.status === 'denied' ? 'was already denied' : 'was already approved or denied';
}

/** The refusal of a page for a request that is no longer pending: withdrawn by its agent, or decided. */
function notPending(request: PendingRequest): AAuthError {
  return request.status === 'withdrawn'
    ? new AAuthError('consent_request_withdrawn', 'The agent withdrew this request: there is nothing left to approve. You can close this window.')
    : new AAuthError('consent_already_decided', `This request ${alreadyDecided(request)}.`);
}

/**
 * Refuse a user who may not decide `request`: an exchange continues its upstream token's user, and a
 * -11 request may name its person; only that user decides it (delivery checks it again). Asked once
 * the password is verified, so the refusal tells nothing to someone who does not know it.
 */
function checkDecider(request: PendingRequest, sub: string): void {
  const bound = request.kind === 'exchange' ? request.act?.sub : request.draft11?.user;
  if (bound !== undefined && bound !== sub) {
    throw new AAuthError('consent_user_mismatch', 'This request continues another user\'s access: only that user can approve or deny it. Sign in as that user.');
  }
}

/**
 * Whether the person may ask the agent a question now (AAuth -11 "Clarification Chat"): a -11
 * request whose agent declared the `clarification` capability, still pending, no question open,
 * fewer than MAX_CLARIFICATION_ROUNDS asked, on a store that keeps the chat.
 */
function canAsk(request: PendingRequest, store: ServerContext['store']): boolean {
  return request.draft11?.clarify === true && store.converse !== undefined && request.status === 'pending' && openQuestion(request) === undefined && (request.chat?.length ?? 0) < MAX_CLARIFICATION_ROUNDS;
}

function shownCode(request: PendingRequest): string {
  return request.kind === 'person-11' || request.kind === 'auth-11' ? groupInteractionCode(request.code) : request.code;
}

/**
 * The interaction endpoint (section 8): a user signs in with a realm user, sees the agent, the
 * resource and the scopes, and approves or denies; the browser then returns to the callback.
 */
export function createInteractionRouter(ctx: ServerContext): Router {
  const router = express.Router();
  const base = `${ctx.issuerPath}/protocol/aauth/interact`;
  const sessions = ctx.sessions;
  const failures = new Map<string, number>();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  // Finding 16: the sign-in form's CSRF field is an HMAC, under a key only this server holds, of the
  // interaction code and the cookie's nonce. A planted cookie with a matching form value is not
  // enough: the attacker cannot compute the field, and a pair issued for one code fails for another.
  // The key is derived from the realm key: the servers of a fleet (one key file) share it (issue 17).
  const csrfKey = ctx.key.deriveSecret('aauth-login-csrf');
  const checkPassword = createPasswordCheck(ctx.realm.users);
  // Finding 2: failures counted per user name and per source address with the realm's Keycloak
  // brute-force settings. An address gets twice the allowance and no quick-login check, since
  // several users may share it.
  const bruteForce = ctx.realm.bruteForce;
  const userFailures = ctx.rateLimits.throttle('login-user', { settings: bruteForce });
  // Finding 14: unknown interaction codes per source address: 20 misses, then waits of 60 s more per 20, at most 15 min.
  const codeMisses = ctx.rateLimits.throttle('interaction-code-miss', {
    settings: { ...BRUTE_FORCE_DEFAULTS, enabled: true, failureFactor: 20, waitIncrementSeconds: 60, maxFailureWaitSeconds: 900, maxDeltaTimeSeconds: 3600 },
    quickCheck: false,
  });
  // Attempts for one interaction code, one user name, and from one address, are checked one after
  // another (in that order), so a burst of parallel guesses cannot all pass a lock check before the
  // first failure is counted.
  const queues = new Map<string, Promise<void>>();
  async function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = queues.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    queues.set(key, mine);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (queues.get(key) === mine) queues.delete(key);
    }
  }
  const sourceFailures = ctx.rateLimits.throttle('login-source', { settings: { ...bruteForce, failureFactor: 2 * bruteForce.failureFactor }, quickCheck: false });
  const loginCsrf = (code: string, nonce: string): string =>
    createHmac('sha256', csrfKey).update(`aauth-login-csrf\0${code}\0${nonce}`).digest('base64url');

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
    // The server's own trouble (a store down, 5xx) is never the user's bad request.
    const title = error.code === 'internal_error' ? 'Something went wrong' : (PAGE_TITLES[error.code] ?? (error.status >= 500 ? 'Temporarily unavailable' : 'Bad request'));
    res.set(error.headers);
    send(res, error.status, messagePage(title, error.message, error.code));
  }

  async function openRequest(codeParam: string | undefined, req: Request): Promise<PendingRequest> {
    // Hyphens are presentational (-11 codes are shown as ABCD-EFGH).
    const code = (codeParam ?? '').trim().toUpperCase().replace(/-/g, '');
    if (!/^[A-Z0-9]{4,32}$/.test(code)) throw new AAuthError('consent_request_invalid', 'The link has no valid interaction code.');
    // Finding 14: an address that keeps naming unknown codes waits before it may look up more.
    const source = req.socket.remoteAddress ?? 'unknown';
    const wait = await codeMisses.wait(source);
    if (wait > 0) throw new AAuthError('consent_lookup_throttled', undefined, { headers: { 'Retry-After': String(wait) } });
    // A -11 code is Crockford base32, compared with I/L -> 1 and O -> 0 (profile section 7); the
    // Keycloak profile's codes are compared as they are.
    const crockford = normalizeInteractionCode(code);
    const request = (await ctx.store.getByCode(code)) ?? (crockford !== undefined && crockford !== code ? (await ctx.store.getByCode(crockford)) : undefined);
    if (!request) {
      await codeMisses.fail(source);
      throw new AAuthError('pending_not_found', 'This request is unknown or was already completed.');
    }
    if (request.expiresAt < ctx.now()) throw new AAuthError('consent_request_expired', 'This request has expired. Ask the agent to start again.');
    if (request.status !== 'pending') throw notPending(request);
    return request;
  }

  /**
   * A callback is bound to the agent that made the request (finding 13): it is on the origin of the
   * agent's identity URL, or it is one of the `redirect_uris` its metadata publishes. Anything else,
   * a pseudonymous (hwk) agent's callback included, is refused before the user acts, so neither an
   * approval nor a denial can send the browser to a host the agent does not control.
   */
  async function bindCallback(callback: URL | undefined, request: PendingRequest): Promise<void> {
    if (callback === undefined) return;
    if (!request.agent.startsWith('pseudonymous:')) {
      let origin: string | undefined;
      try {
        origin = new URL(request.agent).origin;
      } catch {
        origin = undefined;
      }
      if (origin === callback.origin) return;
      let metadata: Record<string, unknown> | undefined;
      try {
        metadata = await ctx.keys.resolveMetadata('agent', request.agent);
      } catch {
        metadata = undefined;
      }
      const registered = metadata?.redirect_uris;
      if (Array.isArray(registered) && registered.some((entry) => matchesRedirectUri(entry, callback))) return;
    }
    throw new AAuthError(
      'consent_callback_unregistered',
      `The callback ${callback.origin} is not on the agent's own origin, nor among the redirect_uris of its metadata.`,
    );
  }

  async function currentSession(req: Request, code: string): Promise<[string, Session] | undefined> {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (id === undefined || id.length > 256) return undefined;
    const session = await sessions.get(id);
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
    const nonce = randomBytes(24).toString('base64url');
    res.append('Set-Cookie', cookie(CSRF_COOKIE, nonce, ctx.pendingLifetime));
    const fields: Record<string, string> = { code: request.code, csrf: loginCsrf(request.code, nonce) };
    if (callback) fields.callback = callback.href;
    const options = { realmName: ctx.realm.displayName, code: shownCode(request), details, action: `${base}/login`, fields };
    send(res, status, loginPage(error === undefined ? options : { ...options, error }), callback, details);
  }

  router.get(
    base,
    handle(async (req, res) => {
      const callback = checkCallback(field(req.query, 'callback'));
      const request = await openRequest(field(req.query, 'code'), req);
      await bindCallback(callback, request);
      const current = await currentSession(req, request.code);
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
      // The agent's answers are untrusted: shown as sanitised plain text, as its justification.
      const chat = (request.chat ?? []).map((turn) => ({ question: turn.question, answer: turn.answer === undefined ? undefined : (clarificationText(turn.answer) ?? ''), updatedScope: turn.updatedScope }));
      const ask = canAsk(request, ctx.store) ? { maxLength: MAX_QUESTION } : undefined;
      const options = { realmName: ctx.realm.displayName, code: shownCode(request), details, action: `${base}/decision`, fields, user, chat, ask };
      send(res, 200, consentPage(callback ? { ...options, callbackHost: callback.host } : options), callback, details);
    }),
  );

  router.post(
    `${base}/login`,
    form,
    handle(async (req, res) => {
      const callback = checkCallback(field(req.body, 'callback'));
      const nonce = parseCookies(req.headers.cookie).get(CSRF_COOKIE);
      const submittedCode = (field(req.body, 'code') ?? '').trim().toUpperCase().replace(/-/g, '');
      if (nonce === undefined || !CSRF_NONCE.test(nonce) || !sameText(field(req.body, 'csrf'), loginCsrf(submittedCode, nonce))) {
        throw new AAuthError('consent_form_invalid', 'The sign-in form expired or did not come from this server. Open the link again.');
      }
      const request = await openRequest(field(req.body, 'code'), req);
      await bindCallback(callback, request);
      const codeLocked = (): AAuthError | undefined =>
        (failures.get(request.code) ?? 0) >= MAX_FAILED_LOGINS
          ? new AAuthError('login_locked', 'Too many failed sign-in attempts for this request. Ask the agent to start again.')
          : undefined;
      const locked = codeLocked();
      if (locked) throw locked;
      const username = (field(req.body, 'username') ?? '').trim().toLowerCase();
      const password = field(req.body, 'password') ?? '';
      const userKey = username.slice(0, 256);
      const sourceKey = req.socket.remoteAddress ?? 'unknown';
      const auditLoginFailure = (refusal: AAuthError): void =>
        ctx.audit({
          type: 'login.failed',
          time: ctx.now(),
          endpoint: 'interact',
          agent: request.agent,
          thumbprint: request.thumbprint,
          username: userKey,
          resource: request.resource,
          scope: request.scope,
          ...refusalOf(refusal),
        });
      const check = async () => {
        if (bruteForce.enabled) {
          // Checked before the password, and the same for unknown user names: a lock reveals no user.
          const wait = Math.max(await userFailures.wait(userKey), await sourceFailures.wait(sourceKey));
          if (wait > 0) {
            const locked = new AAuthError('login_locked', 'Too many failed sign-in attempts. Try again later.', {
              headers: Number.isFinite(wait) ? { 'Retry-After': String(wait) } : {},
            });
            auditLoginFailure(locked);
            throw locked;
          }
        }
        const user = ctx.realm.users.find((u) => u.username === username);
        // Finding 3: hashed off the event loop, and the same work for an unknown or disabled user.
        const verified = await checkPassword(user, password);
        if (!user || !verified) {
          // Per code too, in bounded memory: the least recently failing code goes first, never all at once.
          const count = (failures.get(request.code) ?? 0) + 1;
          failures.delete(request.code);
          if (failures.size >= MAX_COUNTED_CODES) failures.delete(failures.keys().next().value as string);
          failures.set(request.code, count);
          if (bruteForce.enabled) {
            await userFailures.fail(userKey);
            await sourceFailures.fail(sourceKey);
          }
          const refusal = new AAuthError('login_failed');
          auditLoginFailure(refusal);
          return undefined;
        }
        return user;
      };
      // One attempt per code at a time, the limit checked again in its turn: a burst of parallel
      // guesses on one code cannot all pass it while the first ones are still being hashed.
      const user = await oneAtATime(`code:${request.code}`, async () => {
        const lockedNow = codeLocked();
        if (lockedNow) throw lockedNow;
        return bruteForce.enabled ? oneAtATime(`user:${userKey}`, () => oneAtATime(`source:${sourceKey}`, check)) : check();
      });
      if (user === undefined) {
        const refusal = new AAuthError('login_failed');
        await renderLogin(res, refusal.status, request, callback, `${refusal.message}.`);
        return;
      }
      checkDecider(request, user.id);
      const id = randomBytes(32).toString('base64url');
      await sessions.put(id, {
        code: request.code,
        sub: user.id,
        username: user.username,
        csrf: randomBytes(24).toString('base64url'),
        expiresAt: Math.min(request.expiresAt, ctx.now() + ctx.pendingLifetime),
      });
      failures.delete(request.code);
      await userFailures.succeed(userKey);
      res.append('Set-Cookie', cookie(SESSION_COOKIE, id, ctx.pendingLifetime));
      res.append('Set-Cookie', cookie(CSRF_COOKIE, '', 0));
      const next = new URLSearchParams({ code: request.code });
      if (callback) next.set('callback', callback.href);
      res.redirect(303, `${base}?${next.toString()}`);
    }),
  );

  /** The person's question to the agent, recorded for its next poll (AAuth -11 "Clarification Chat"). */
  async function askAgent(request: PendingRequest, session: Session, text: string | undefined): Promise<void> {
    const question = (text ?? '').trim();
    if (question === '' || question.length > MAX_QUESTION) {
      throw new AAuthError('consent_request_invalid', `Write a question of at most ${MAX_QUESTION} characters for the agent.`);
    }
    if (!canAsk(request, ctx.store)) {
      throw new AAuthError('consent_request_invalid', openQuestion(request) !== undefined ? 'The agent has not answered your last question yet. Reload the page to see its answer.' : 'This request takes no (more) questions to the agent: approve or deny it.');
    }
    const asked = await ctx.store.converse!(request.id, { question, max: MAX_CLARIFICATION_ROUNDS });
    if (asked === undefined) throw new AAuthError('consent_already_decided', 'This request was decided, withdrawn or expired, or another question was asked meanwhile. Reload the page.');
    ctx.audit({ type: 'clarification.asked', time: ctx.now(), endpoint: 'interact', agent: request.agent, thumbprint: request.thumbprint, sub: session.sub, username: session.username, resource: request.resource, scope: request.scope });
  }

  router.post(
    `${base}/decision`,
    form,
    handle(async (req, res) => {
      const callback = checkCallback(field(req.body, 'callback'));
      const decision = field(req.body, 'decision');
      if (decision !== 'approve' && decision !== 'deny' && decision !== 'ask') throw new AAuthError('consent_request_invalid', 'Choose Approve or Deny.');
      const request = await openRequest(field(req.body, 'code'), req);
      await bindCallback(callback, request);
      const current = await currentSession(req, request.code);
      if (!current || !sameText(field(req.body, 'csrf'), current[1].csrf)) {
        throw new AAuthError('consent_form_invalid', 'Your sign-in expired or the form did not come from this server. Open the link again.');
      }
      const [sessionId, session] = current;
      checkDecider(request, session.sub);
      if (decision === 'ask') {
        await askAgent(request, session, field(req.body, 'question'));
        // Back to the page (the sign-in is kept): it shows the question, then the answer.
        const next = new URLSearchParams({ code: request.code });
        if (callback) next.set('callback', callback.href);
        res.redirect(303, `${base}?${next.toString()}`);
        return;
      }
      const status = decision === 'approve' ? 'approved' : 'denied';
      let decided: PendingRequest | undefined;
      try {
        decided = await ctx.store.decide(request.id, { status, sub: session.sub, username: session.username });
      } catch (error) {
        // The store did not answer in time: Redis may still record the choice. Say so, and how to
        // find out (the sign-in is kept, so the reloaded page shows the request or its outcome).
        if (error instanceof AAuthError && error.status >= 500) {
          throw new AAuthError(error.code, `Your choice could not be confirmed: the server's shared store did not answer in time, and it may still record it. Reload this page in a moment: it shows the request again if your choice was not recorded, or what was decided.`, { status: error.status, headers: error.headers, cause: error });
        }
        throw error;
      }
      await sessions.delete(sessionId);
      res.append('Set-Cookie', cookie(SESSION_COOKIE, '', 0));
      if (!decided) {
        // Which of the three it is, when the store still holds the request.
        const stored = await ctx.store.get(request.id).catch(() => undefined);
        if (stored === undefined) throw new AAuthError('consent_already_decided', 'This request was already approved or denied, or it expired.');
        throw notPending(stored);
      }
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

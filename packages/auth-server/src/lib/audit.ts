import { isAAuthError } from '@aauth-kit/core';
import { catchRejection } from '@aauth-kit/core/internal';
import type { AuditDecision, AuditEvent, AuditEventType } from '../audit-event.js';
import type { RealmConfig } from '../load-realm.js';

/** The decision each event type records; the types absent here are no issuance decision (consent, login, revocation). */
const DECISIONS: Partial<Record<AuditEventType, AuditDecision>> = {
  'token.issued': 'allow',
  'token.exchanged': 'allow',
  'token.refreshed': 'allow',
  'request.refused': 'deny',
  'consent.required': 'pending',
};

const MAX_CHAIN = 16;

/** Who asked, outermost first: the event's agent (or OAuth actor, else client), then each level of `act`. */
function chainOf(event: AuditEvent): string[] | undefined {
  const chain: string[] = [];
  const first = event.agent ?? event.actor ?? event.client;
  if (first !== undefined) chain.push(first);
  let level: unknown = event.act;
  for (let depth = 0; depth < MAX_CHAIN && typeof level === 'object' && level !== null; depth++) {
    const { agent, sub } = level as Record<string, unknown>;
    const who = typeof agent === 'string' ? agent : typeof sub === 'string' ? sub : undefined;
    // An OAuth actor is already the first entry, as `act.sub` of the issued token.
    if (who !== undefined && !(depth === 0 && who === first)) chain.push(who);
    level = (level as Record<string, unknown>).act;
  }
  return chain.length > 0 ? chain : undefined;
}

/** User names by user id, per realm (built once: a realm's users do not change while it serves). */
const userNames = new WeakMap<readonly { id: string; username: string }[], Map<string, string>>();
function userNameOf(users: readonly { id: string; username: string }[], id: string): string | undefined {
  let names = userNames.get(users);
  if (names === undefined) {
    names = new Map(users.map((u) => [u.id, u.username]));
    userNames.set(users, names);
  }
  return names.get(id);
}

const scopeList = (scope: string | undefined): string[] => (scope === undefined ? [] : scope.split(' ').filter((s) => s.length > 0));

/**
 * The audit-trail fields of an event (issue 17), from what the emitting site set: realm, decision,
 * user (a realm user's name for its id), agent chain, scopes asked and granted. Fields a site set win.
 */
export function completeAuditEvent(event: AuditEvent, realm: Pick<RealmConfig, 'name' | 'users'>): AuditEvent {
  const out: AuditEvent = { ...event, realm: event.realm ?? realm.name };
  const decision = event.decision ?? DECISIONS[event.type];
  if (decision !== undefined) out.decision = decision;
  const id = event.user ?? event.sub;
  const user = event.username ?? (id === undefined ? undefined : (userNameOf(realm.users, id) ?? id));
  if (user !== undefined) out.user = user;
  const chain = event.chain ?? chainOf(event);
  if (chain !== undefined) out.chain = chain;
  if (out.scopesRequested === undefined && event.scope !== undefined) out.scopesRequested = scopeList(event.scope);
  if (out.scopesGranted === undefined && decision === 'allow') out.scopesGranted = scopeList(event.scope);
  return out;
}

// What JSON.stringify leaves raw and a terminal or viewer acts on: DEL and the C1 controls (U+009B
// is CSI, as ESC [ is), the line and paragraph separators, the bidirectional overrides that reorder
// what is shown. Audit text comes from requests (a user name typed at sign-in, a client id).
const TERMINAL = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `JSON.stringify(value)` with the characters above written as `\uXXXX` escapes: the same JSON
 * value, one line that a `tail -f` of the audit file or of the command's output cannot turn into
 * terminal commands or visually reorder (newlines and C0 controls are escaped by JSON already).
 */
export function auditJson(value: unknown): string {
  return JSON.stringify(value).replace(TERMINAL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Most characters of one audit string (a refusal's reason, an agent or resource URL, a scope). */
export const MAX_AUDIT_TEXT = 4096;
/** Most entries of one audit list (scopes, the agent chain, an audience). */
const MAX_AUDIT_ITEMS = 64;
/** Deepest nesting kept (the `act` chain of a delegated token). */
const MAX_AUDIT_DEPTH = 16;

function boundValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.length > MAX_AUDIT_TEXT ? `${value.slice(0, MAX_AUDIT_TEXT)}... (${value.length} characters, cut)` : value;
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_AUDIT_DEPTH) return '(nested deeper, cut)';
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_AUDIT_ITEMS).map((v) => boundValue(v, depth + 1));
    if (value.length > MAX_AUDIT_ITEMS) kept.push(`... (${value.length} entries, cut)`);
    return kept;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, boundValue(v, depth + 1)]));
}

function withinBounds(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.length <= MAX_AUDIT_TEXT;
  if (typeof value !== 'object' || value === null) return true;
  if (depth >= MAX_AUDIT_DEPTH) return false;
  if (Array.isArray(value)) return value.length <= MAX_AUDIT_ITEMS && value.every((v) => withinBounds(v, depth + 1));
  return Object.values(value).every((v) => withinBounds(v, depth + 1));
}

/**
 * An audit event whose every string, list and nesting is within bounds (the event itself when it
 * is, as nearly all are): its fields come from requests (an agent's URL, a token's scope and act
 * chain, a refusal's reason naming what was sent), and one audit line must not grow with them.
 */
export function boundAuditEvent(event: AuditEvent): AuditEvent {
  return withinBounds(event, 0) ? event : (boundValue(event, 0) as AuditEvent);
}

/** What a listener threw or rejected with, as a warning quotes it (whatever was thrown: null, a string, an Error). */
const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Emit without letting a failing listener break the request; every event is completed first ({@link completeAuditEvent}).
 * A listener that returns a promise (an `async` one writing to a database) is not awaited, and its
 * rejection is a warning: unhandled, it would end the process (Node's default for unhandled rejections).
 */
export function createAuditEmitter(
  listener: ((event: AuditEvent) => void) | undefined,
  warn: (message: string) => void,
  realm?: Pick<RealmConfig, 'name' | 'users'>,
): (event: AuditEvent) => void {
  if (!listener) return () => {};
  return (event) => {
    let result: unknown;
    try {
      result = listener(boundAuditEvent(realm === undefined ? event : completeAuditEvent(event, realm)));
    } catch (error) {
      warn(`onAudit threw: ${reasonOf(error)}`);
      return;
    }
    catchRejection(result, (error) => warn(`onAudit rejected: ${reasonOf(error)}`));
  };
}

/** The refusal fields of an event for `error`: its code, status, wire error and message (a non-`AAuthError` is a 500 `internal_error`). */
export function refusalOf(error: unknown): Required<Pick<AuditEvent, 'code' | 'status' | 'error' | 'reason'>> {
  if (isAAuthError(error)) return { code: error.code, status: error.status, error: error.error, reason: error.message };
  return { code: 'internal_error', status: 500, error: 'server_error', reason: 'internal error' };
}

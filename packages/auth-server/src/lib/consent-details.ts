import { ACT_MAX_DEPTH, type ActClaim } from '@aauth-kit/core';
import { MAX_CLARIFICATION_TEXT } from '@aauth-kit/core/internal';
import type { RealmConfig } from '../load-realm.js';
import type { PendingRequest } from '../pending-store.js';
import type { ServerContext } from './context.js';

/** Longest name shown for an agent or a resource, in characters (longer ones end with an ellipsis). */
export const MAX_NAME = 100;
/** Longest scope description shown. */
export const MAX_DESCRIPTION = 300;
/** Longest URL shown as text (identities, act chain entries). */
export const MAX_URL = 300;
/** Longest agent `justification` shown, in characters, and most lines (longer ones end with an ellipsis). */
export const MAX_JUSTIFICATION = 1000;
export const MAX_JUSTIFICATION_LINES = 20;
const MAX_LOGO_URL = 2048;
const MAX_ACT_SHOWN = 20;

/** An agent or a resource as the consent page shows it. */
export interface PartyView {
  /** The identity URL (or `pseudonymous:<thumbprint>`), shortened for display. */
  id: string;
  /** `name` from its metadata, cleaned and shortened; undefined when the metadata gives none. */
  name: string | undefined;
  /** `logo_uri` from its metadata when it is an http(s) URL without credentials. */
  logo: URL | undefined;
  /** True for an `hwk` signer, which publishes nothing. */
  pseudonymous: boolean;
}

/** One requested scope and the human text for it. */
export interface ScopeView {
  scope: string;
  /** From the realm's client scope, else the resource's `scope_descriptions`; undefined when neither has one. */
  text: string | undefined;
}

/** Who may pass the granted access on to further agents (see {@link chainingOf}). */
export interface Chaining {
  /** The resource can exchange the token at this server's AAuth token endpoint (`upstream_token`). */
  byResource: boolean;
  /** Realm OAuth clients that may exchange a token addressed to the resource (RFC 8693 grant). */
  clients: string[];
  /** How many more delegation steps `aauth.exchange.max.depth` leaves. */
  hops: number;
}

/** Everything the login and consent pages show about a pending request. */
export interface ConsentDetails {
  agent: PartyView;
  resource: PartyView;
  scopes: ScopeView[];
  /** Seconds an issued auth token lives (`accessTokenLifespan`). */
  lifetime: number;
  /** Seconds after expiry during which the agent may still renew it (`aauth.refresh.lifespan`). */
  refreshWindow: number;
  chaining: Chaining | undefined;
  /** The delegation chain of an exchange that needs consent, outermost first (shortened URLs). */
  act: { agent: string; sub: string | undefined }[];
  /**
   * Present for a request to the -11 person server. `justification` is the agent's own words
   * (agent-asserted, AAuth -11 section "Consent Presentation"), as plain text from {@link justificationText}.
   */
  draft11?: { justification: string | undefined };
}

// C0/C1 controls, zero-width and bidirectional formatting characters: a name must not reorder or hide text.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff]/g;

/**
 * Text from a metadata document made fit to show: a string, invisible and control characters
 * removed, whitespace collapsed, at most `max` characters (the last one an ellipsis when cut).
 * Returns undefined for anything else or for an empty result. HTML escaping is the page's job.
 */
export function displayText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  const clean = value.replace(INVISIBLE, ' ').replace(/\s+/g, ' ').trim();
  if (clean.length === 0) return undefined;
  if (clean.length <= max) return clean;
  const chars = Array.from(clean);
  return chars.length <= max ? clean : `${chars.slice(0, max - 1).join('')}…`;
}

// As INVISIBLE, but line feeds are kept: a justification's lines and paragraphs carry meaning.
const INVISIBLE_KEEP_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff]/g;

/**
 * The agent's `justification` (Markdown, AAuth -11: "MUST sanitize before rendering") made fit to
 * show as plain text: no Markdown is rendered, so no link, image or HTML in it can become one;
 * invisible, control and bidirectional characters removed, line breaks kept (at most one empty
 * line in a row, spaces collapsed within a line), at most {@link MAX_JUSTIFICATION} characters and
 * {@link MAX_JUSTIFICATION_LINES} lines (the last one ending with an ellipsis when cut). Undefined
 * for anything but a non-empty string. HTML escaping is the page's job.
 */
export function justificationText(value: unknown, max = MAX_JUSTIFICATION, maxLines = MAX_JUSTIFICATION_LINES): string | undefined {
  if (typeof value !== 'string') return undefined;
  const lines = value
    .replace(/\r\n?/g, '\n')
    .replace(INVISIBLE_KEEP_LF, ' ')
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim());
  const kept: string[] = [];
  for (const line of lines) if (line !== '' || (kept.length > 0 && kept[kept.length - 1] !== '')) kept.push(line);
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  if (kept.length === 0) return undefined;
  let cut = kept.length > maxLines;
  let text = kept.slice(0, maxLines).join('\n');
  const chars = Array.from(text);
  if (chars.length > max) {
    text = chars.slice(0, max - 1).join('');
    cut = true;
  }
  return cut ? `${text.trimEnd()}…` : text;
}

/** Most lines of an agent's answer to the person's question shown (AAuth -11 "Clarification Limits"). */
export const MAX_ANSWER_LINES = 200;

/**
 * The agent's answer to the person's question (Markdown, untrusted: AAuth -11 "Clarification
 * Limits": "MUST be sanitized before display") as plain text, as {@link justificationText} makes a
 * justification, with room for a longer text: at most MAX_ANSWER_LINES lines.
 */
export function clarificationText(value: unknown): string | undefined {
  return justificationText(value, MAX_CLARIFICATION_TEXT, MAX_ANSWER_LINES);
}

/**
 * A `logo_uri` that may become an `<img src>`: an absolute http(s) URL without credentials whose host
 * is a plain name or IP literal; never javascript: or data:.
 */
export function logoUrl(value: unknown): URL | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LOGO_URL) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  // The origin goes into the page's Content-Security-Policy (img-src): only plain host names and IP literals.
  if (!/^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$/i.test(url.hostname)) return undefined;
  return url;
}

/** "5 minutes", "1 hour 30 minutes", "2 days": the two largest units of a duration, in words. */
export function plainDuration(seconds: number): string {
  const units: [number, string][] = [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  let rest = Math.max(0, Math.round(seconds));
  if (rest === 0) return '0 seconds';
  const parts: string[] = [];
  for (const [size, unit] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 && parts.length < 2) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
    else if (parts.length > 0) break;
    rest -= n * size;
  }
  return parts.join(' ');
}

function own(map: unknown, key: string): unknown {
  return typeof map === 'object' && map !== null && !Array.isArray(map) && Object.hasOwn(map, key) ? (map as Record<string, unknown>)[key] : undefined;
}

/**
 * The text for each scope. The realm's client scope wins (its `consent.screen.text`, else its
 * `description`): the realm administrator speaks for this server, while a resource's own
 * `scope_descriptions` describe scope names that an exchange may carry on to other resources.
 */
export function scopeViews(realm: RealmConfig, scopes: readonly string[], resourceMetadata: Record<string, unknown> | undefined): ScopeView[] {
  return scopes.map((scope) => {
    const realmScope = realm.clientScopes.find((s) => s.name === scope);
    const text =
      displayText(realmScope?.consentScreenText, MAX_DESCRIPTION) ??
      displayText(realmScope?.description, MAX_DESCRIPTION) ??
      displayText(own(resourceMetadata?.scope_descriptions, scope), MAX_DESCRIPTION);
    return { scope, text };
  });
}

function actChain(act: ActClaim | undefined): ConsentDetails['act'] {
  const out: ConsentDetails['act'] = [];
  for (let node = act; node !== undefined && out.length < MAX_ACT_SHOWN; node = node.act) {
    out.push({ agent: displayText(node.agent, MAX_URL) ?? '(unnamed)', sub: displayText(node.sub, MAX_NAME) });
  }
  return out;
}

function depthOf(act: ActClaim | undefined): number {
  let depth = 0;
  for (let node = act; node !== undefined; node = node.act) depth++;
  return depth;
}

/**
 * Whether the token this consent yields lets someone act further on the user's behalf, and who.
 * The issued token has `aud` = the resource and `sub` = the user, so (section 8) the resource, signing
 * as an agent with the same identity, may present it as `upstream_token` and get tokens for other
 * resources with these scopes or fewer and the same `sub`, when the realm has AAuth on, exchange on
 * (`aauth.exchange.enabled`) and room for one more `act` level (`aauth.exchange.max.depth`). A realm
 * OAuth client with token exchange enabled whose client id or `aauth.exchange.subject.audiences`
 * names the resource may do the same at the OAuth token endpoint.
 */
export function chainingOf(realm: RealmConfig, request: Pick<PendingRequest, 'resource' | 'act'>): Chaining | undefined {
  const { policy } = realm;
  // Issuance caps the realm's depth at the kit's one act-chain limit; the page must not promise more.
  const hops = Math.min(policy.maxDepth, ACT_MAX_DEPTH) - depthOf(request.act);
  if (hops < 1) return undefined;
  const byResource = policy.enabled && policy.exchangeEnabled;
  const clients = realm.clients
    .filter((c) => c.enabled && !c.publicClient && !c.bearerOnly && c.tokenExchange)
    .filter((c) => c.clientId === request.resource || c.subjectAudiences.includes(request.resource))
    .map((c) => displayText(c.clientId, MAX_NAME) ?? c.clientId);
  return byResource || clients.length > 0 ? { byResource, clients, hops } : undefined;
}

/** Settle `promise` to its value, or undefined when it fails: a metadata problem must not break the page. */
async function optional<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch {
    return undefined;
  }
}

function party(id: string, metadata: Record<string, unknown> | undefined, fallback?: Record<string, unknown>): PartyView {
  const pseudonymous = id.startsWith('pseudonymous:');
  const name = displayText(metadata?.name, MAX_NAME) ?? displayText(fallback?.name, MAX_NAME);
  const logo = logoUrl(metadata?.logo_uri) ?? (metadata?.logo_uri === undefined ? logoUrl(fallback?.logo_uri) : undefined);
  return { id: displayText(id, MAX_URL) ?? id.slice(0, MAX_URL), name, logo, pseudonymous };
}

/**
 * Gather what the consent page shows for `request`: names and logos from the agent's and the
 * resource's metadata (fetched through the verifier's discovery: egress policy, time and size limits,
 * cache), the scope texts, the token lifetime and whether the access can be passed on. Never throws:
 * a party whose metadata cannot be read is shown by its URL.
 */
export async function consentDetails(ctx: Pick<ServerContext, 'keys' | 'realm' | 'metadata11'>, request: PendingRequest): Promise<ConsentDetails> {
  if (request.draft11 !== undefined) return consentDetails11(ctx, request, request.draft11);
  const agentIsNamed = !request.agent.startsWith('pseudonymous:');
  const [agentMeta, resourceMeta] = await Promise.all([
    agentIsNamed ? optional(ctx.keys.resolveMetadata('agent', request.agent)) : Promise.resolve(undefined),
    optional(ctx.keys.resolveMetadata('resource', request.resource)),
  ]);
  // Section 9's resource document has no `name`: a resource that is also an agent (the SCA pattern)
  // names itself in its agent document at the same identity URL.
  let resourceAsAgent: Record<string, unknown> | undefined;
  if (displayText(resourceMeta?.name, MAX_NAME) === undefined) {
    resourceAsAgent = request.resource === request.agent ? agentMeta : await optional(ctx.keys.resolveMetadata('agent', request.resource));
  }
  return {
    agent: party(request.agent, agentMeta),
    resource: party(request.resource, resourceMeta, resourceAsAgent),
    scopes: scopeViews(ctx.realm, scopesOf(request), resourceMeta),
    lifetime: ctx.realm.accessTokenLifespan,
    refreshWindow: ctx.realm.refreshLifespan,
    chaining: chainingOf(ctx.realm, request),
    act: actChain(request.act),
  };
}

function scopesOf(request: PendingRequest): string[] {
  return request.scope.split(' ').filter((s) => s.length > 0);
}

/**
 * {@link consentDetails} at the -11 person server (draft-11 profile section 2): the agent is named
 * by its agent provider's `aauth-agent.json` (the agent token's `iss`), the resource by its
 * `aauth-resource.json` (the resource is a server identifier), each document's `issuer` checked by
 * discovery; the ids stay shown beside the names. A document that cannot be read leaves the id alone.
 */
async function consentDetails11(ctx: Pick<ServerContext, 'realm' | 'metadata11'>, request: PendingRequest, draft11: NonNullable<PendingRequest['draft11']>): Promise<ConsentDetails> {
  const reader = ctx.metadata11;
  const [agentMeta, resourceMeta] = await Promise.all([
    reader === undefined || draft11.provider === undefined ? Promise.resolve(undefined) : optional(reader.resolveServerMetadata(draft11.provider, 'aauth-agent.json')),
    reader === undefined ? Promise.resolve(undefined) : optional(reader.resolveServerMetadata(request.resource, 'aauth-resource.json')),
  ]);
  return {
    agent: party(request.agent, agentMeta),
    resource: party(request.resource, resourceMeta),
    scopes: scopeViews(ctx.realm, scopesOf(request), resourceMeta),
    // -11 tokens live `aauth.person.token.lifespan` and are not refreshed: the agent asks again, and
    // the person server remembers this approval. Chaining there is by upstream_token (section 8, item 7).
    lifetime: ctx.realm.person.tokenLifespan,
    refreshWindow: 0,
    chaining: request.kind === 'auth-11' ? { byResource: true, clients: [], hops: 1 } : undefined,
    act: actChain(request.act),
    draft11: { justification: justificationText(draft11.justification) },
  };
}

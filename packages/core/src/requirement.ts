/**
 * The -11 `AAuth-Requirement` response header (draft-11 profile section 7; AAuth -11 "Requirement
 * Responses"): an RFC 8941 dictionary whose `requirement` member is a token, its data as parameters.
 */
import { AAuthError } from './errors.js';
import { Decimal, SfvError, Token, isInnerList, parseDictionary, serializeString, type BareItem } from './lib/sfv.js';

/** The requirement values AAuth -11 defines, with the status each is sent with. */
export const REQUIREMENTS = ['agent-token', 'person-token', 'auth-token', 'interaction', 'approval', 'clarification', 'claims'] as const;
export type RequirementValue = (typeof REQUIREMENTS)[number];

/** AAuth -11 "Clarification Chat": the longest question or answer the kit's agent and person server take, characters. */
export const MAX_CLARIFICATION_TEXT = 16_384;
/** AAuth -11 "Clarification Limits": clarification rounds per request (the recommended 5), at the agent and the person server. */
export const MAX_CLARIFICATION_ROUNDS = 5;

/** A parsed `AAuth-Requirement` value. */
export interface ParsedRequirement {
  /** The requirement as sent; an unknown value parses but is never satisfiable. */
  requirement: string;
  /** False for a value -11 does not define (the agent must not treat it as satisfiable). */
  known: boolean;
  /** `auth-token`: the resource token. */
  resourceToken?: string;
  /** `interaction`: the interaction URL. */
  url?: string;
  /** `interaction`: the interaction code (as sent, hyphens kept). */
  code?: string;
  /** Every parameter of the `requirement` member, strings and tokens as text, others as sent. */
  params: Record<string, string | number | boolean>;
}

/** What {@link serializeRequirement} writes. */
export interface RequirementOptions {
  requirement: RequirementValue;
  /** `auth-token`: the resource token (required for it). */
  resourceToken?: string | undefined;
  /** `interaction`: https URL without query or fragment (required for it). */
  url?: string | undefined;
  /** `interaction`: the code (required for it). */
  code?: string | undefined;
}

const MAX_HEADER = 16 * 1024;

function text(v: BareItem): string | number | boolean {
  if (v instanceof Token) return v.value;
  if (v instanceof Decimal) return v.value;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return `:${v.raw}:`;
}

/**
 * Parse an `AAuth-Requirement` value. Unknown parameters and other dictionary members are ignored
 * (-11: recipients ignore unknown parameters). Throws `challenge_malformed` when it is not a
 * dictionary, or has no `requirement` token.
 */
export function parseRequirement(value: string | readonly string[]): ParsedRequirement {
  const header = typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : undefined;
  if (typeof header !== 'string' || header.length > MAX_HEADER) throw new AAuthError('challenge_malformed', 'AAuth-Requirement is missing or larger than 16 KiB');
  let members;
  try {
    members = parseDictionary(header);
  } catch (error) {
    if (error instanceof SfvError) throw new AAuthError('challenge_malformed', `AAuth-Requirement is malformed: ${error.message}`);
    throw error;
  }
  // RFC 8941 section 3.2: a repeated key's last value wins.
  const member = [...members].reverse().find((m) => m.key === 'requirement');
  if (member === undefined || isInnerList(member.value) || !(member.value.value instanceof Token)) {
    throw new AAuthError('challenge_malformed', 'AAuth-Requirement has no requirement token');
  }
  const requirement = member.value.value.value;
  const params: Record<string, string | number | boolean> = {};
  for (const [name, v] of member.value.params) params[name] = text(v);
  const parsed: ParsedRequirement = { requirement, known: (REQUIREMENTS as readonly string[]).includes(requirement), params };
  const str = (name: string): string | undefined => {
    const v = member.value.params.find(([k]) => k === name)?.[1];
    return typeof v === 'string' ? v : undefined;
  };
  const resourceToken = str('resource-token');
  if (resourceToken !== undefined) parsed.resourceToken = resourceToken;
  const url = str('url');
  if (url !== undefined) parsed.url = url;
  const code = str('code');
  if (code !== undefined) parsed.code = code;
  return parsed;
}

/** Why an interaction `url` is unacceptable (-11: https, no query or fragment), or undefined. */
export function interactionUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:') return 'must use https';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.search || url.hash || value.includes('?') || value.includes('#')) return 'must not have a query or fragment';
  return undefined;
}

/**
 * Serialize an `AAuth-Requirement` value: `requirement=auth-token; resource-token="..."`,
 * `requirement=interaction; url="..."; code="..."`. Throws a `TypeError` for an unknown value, a
 * missing parameter its requirement needs, or a value the header cannot carry.
 */
export function serializeRequirement(options: RequirementOptions): string {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (!(REQUIREMENTS as readonly string[]).includes(options.requirement)) {
    throw new TypeError(`options.requirement must be one of ${REQUIREMENTS.join(', ')}`);
  }
  for (const name of ['resourceToken', 'url', 'code'] as const) {
    const v = options[name];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new TypeError(`options.${name} must be a non-empty string`);
  }
  if (options.requirement === 'auth-token' && options.resourceToken === undefined) throw new TypeError('options.resourceToken is required for auth-token');
  if (options.requirement === 'interaction') {
    if (options.url === undefined || options.code === undefined) throw new TypeError('options.url and options.code are required for interaction');
    const problem = interactionUrlProblem(options.url);
    if (problem) throw new TypeError(`options.url ${problem}`);
  }
  let out = `requirement=${options.requirement}`;
  if (options.resourceToken !== undefined) out += `; resource-token=${serializeString(options.resourceToken)}`;
  if (options.url !== undefined) out += `; url=${serializeString(options.url)}`;
  if (options.code !== undefined) out += `; code=${serializeString(options.code)}`;
  return out;
}

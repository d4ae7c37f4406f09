/**
 * -11 metadata documents (draft-11 profile section 2; AAuth -11 "Metadata Documents"): the issuer
 * check of HTTP Signature Keys -09 (sections 5.4.9, 5.4.10) and the required members of each of
 * the four documents. Pure: the caller fetched the document (with its egress policy).
 */
import { serverIdentifierProblem } from './aauth-identifier.js';
import { AAuthError } from './errors.js';
import { showValue } from './lib/show-value.js';

/** The four -11 well-known document names. */
export const METADATA_DOCUMENTS_11 = ['aauth-agent.json', 'aauth-resource.json', 'aauth-person.json', 'aauth-access.json'] as const;
export type MetadataDocumentName = (typeof METADATA_DOCUMENTS_11)[number];

/** The -11 resource access modes (AAuth -11 "Resource Metadata", `access_mode`). */
export const ACCESS_MODES = ['agent-token', 'person-token', 'session-token', 'auth-token'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

/** What every -11 metadata document may carry (all members as sent are kept). */
export interface MetadataDocument11 {
  issuer: string;
  jwks_uri?: string;
  accept_signature_algs?: string[];
  name?: string;
  /** Markdown: sanitise before showing it. */
  description?: string;
  logo_uri?: string;
  logo_dark_uri?: string;
  documentation_uri?: string;
  tos_uri?: string;
  policy_uri?: string;
  // person and access servers
  auth_token_endpoint?: string;
  person_token_endpoint?: string;
  interaction_endpoint?: string;
  revocation_endpoint?: string;
  scopes_supported?: string[];
  // resources
  access_mode?: string;
  authorization_endpoint?: string;
  scope_descriptions?: Record<string, string>;
  signature_window?: number;
  additional_signature_components?: string[];
  [member: string]: unknown;
}

/** Options of {@link checkMetadataDocument}. */
export interface CheckMetadataOptions {
  /** The URL the document was fetched from: `{identity}/.well-known/{dwk}`. */
  url: string;
  /** The well-known name it was fetched under. */
  dwk: string;
  /** Accept loopback identities and `http` URLs on loopback hosts; default false. */
  allowLoopback?: boolean | undefined;
  /** Resources: `jwks_uri` is required when the resource issues resource tokens; default false. */
  requireJwksUri?: boolean | undefined;
}

const DWK = /^[A-Za-z0-9._-]{1,100}$/;

/** `{id}/.well-known/{dwk}` (HTTP Signature Keys -09 section 3.6). Throws a TypeError for a `dwk` with a slash. */
export function metadataUrl(id: string, dwk: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.endsWith('/')) throw new TypeError('id must be an identifier without a trailing slash');
  if (typeof dwk !== 'string' || !DWK.test(dwk) || dwk === '.' || dwk === '..') throw new TypeError(`dwk ${JSON.stringify(dwk)} is not a well-known document name`);
  return `${id}/.well-known/${dwk}`;
}

/** Members each document must carry besides `issuer`. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  'aauth-agent.json': ['jwks_uri'],
  'aauth-person.json': ['jwks_uri', 'auth_token_endpoint', 'person_token_endpoint'],
  'aauth-access.json': ['jwks_uri', 'auth_token_endpoint'],
  'aauth-resource.json': [],
};

const ENDPOINTS = ['auth_token_endpoint', 'person_token_endpoint', 'authorization_endpoint', 'interaction_endpoint', 'revocation_endpoint', 'mission_endpoint', 'callback_endpoint'];
const URLS = ['jwks_uri', 'logo_uri', 'logo_dark_uri', 'documentation_uri', 'tos_uri', 'policy_uri'];
const STRING_ARRAYS = ['accept_signature_algs', 'scopes_supported', 'claims_supported', 'additional_signature_components'];
const STRINGS = ['name', 'description'];

const invalid = (dwk: string, why: string): AAuthError => new AAuthError('metadata_invalid', `${dwk}: ${why}`);

/** https (or http on a loopback host when allowed); endpoints also without query or fragment (AAuth -11 "Endpoint URLs"). */
function urlProblem(value: unknown, endpoint: boolean, allowLoopback: boolean): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return 'is not a URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  const loopback = /^(localhost|127\.0\.0\.1|\[::1\])$/.test(url.hostname) || url.hostname.endsWith('.localhost');
  if (url.protocol !== 'https:' && !(allowLoopback && url.protocol === 'http:' && loopback)) return 'must use https';
  if (url.username || url.password) return 'must not contain credentials';
  if (endpoint && (url.search || url.hash || value.includes('?') || value.includes('#'))) return 'must not have a query or fragment';
  return undefined;
}

/**
 * Check a -11 metadata document fetched from `options.url`: `issuer` present (`issuer_missing`)
 * and equal byte for byte to the URL minus `/.well-known/{dwk}` (`issuer_mismatch`), then the
 * required members of its kind and the types of the members -11 defines (`metadata_invalid`).
 * Returns the document. Throws a `TypeError` when `url` does not end in `/.well-known/{dwk}`.
 */
export function checkMetadataDocument(doc: unknown, options: CheckMetadataOptions): MetadataDocument11 {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { dwk } = options;
  const suffix = `/.well-known/${dwk}`;
  if (typeof dwk !== 'string' || !DWK.test(dwk) || typeof options.url !== 'string' || !options.url.endsWith(suffix)) {
    throw new TypeError(`options.url must end in /.well-known/{options.dwk} (got ${JSON.stringify(options.url)?.slice(0, 200)})`);
  }
  const identity = options.url.slice(0, -suffix.length);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(dwk, 'the document is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.issuer === undefined || d.issuer === null || d.issuer === '') throw new AAuthError('issuer_missing', `${dwk} at ${identity.slice(0, 200)} has no issuer`);
  if (d.issuer !== identity) {
    throw new AAuthError('issuer_mismatch', `${dwk} issuer ${showValue(d.issuer, 200)} is not ${JSON.stringify(identity.slice(0, 200))}`, {
      details: { issuer: typeof d.issuer === 'string' ? d.issuer.slice(0, 200) : undefined, expected: identity.slice(0, 200) },
    });
  }
  const allowLoopback = options.allowLoopback === true;
  const idProblem = serverIdentifierProblem(identity, { allowLoopback });
  if (idProblem) throw invalid(dwk, `issuer ${idProblem}`);

  const required = [...(REQUIRED[dwk] ?? []), ...(dwk === 'aauth-resource.json' && options.requireJwksUri ? ['jwks_uri'] : [])];
  for (const name of required) if (d[name] === undefined) throw invalid(dwk, `${name} is missing`);
  for (const name of URLS) {
    const p = d[name] === undefined ? undefined : urlProblem(d[name], false, allowLoopback);
    if (p) throw invalid(dwk, `${name} ${p}`);
  }
  for (const name of ENDPOINTS) {
    const p = d[name] === undefined ? undefined : urlProblem(d[name], true, allowLoopback);
    if (p) throw invalid(dwk, `${name} ${p}`);
  }
  for (const name of STRING_ARRAYS) {
    const v = d[name];
    if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) throw invalid(dwk, `${name} is not an array of strings`);
  }
  for (const name of STRINGS) if (d[name] !== undefined && typeof d[name] !== 'string') throw invalid(dwk, `${name} is not a string`);
  if (d.access_mode !== undefined && typeof d.access_mode !== 'string') throw invalid(dwk, 'access_mode is not a string');
  if (d.signature_window !== undefined && !(Number.isInteger(d.signature_window) && (d.signature_window as number) > 0)) {
    throw invalid(dwk, 'signature_window is not a positive integer');
  }
  const sd = d.scope_descriptions;
  if (sd !== undefined && (typeof sd !== 'object' || sd === null || Array.isArray(sd) || Object.values(sd).some((v) => typeof v !== 'string'))) {
    throw invalid(dwk, 'scope_descriptions is not an object of strings');
  }
  return d as MetadataDocument11;
}

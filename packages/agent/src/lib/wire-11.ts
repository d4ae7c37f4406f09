import {
  type HeadersInput,
  parseAgentIdentifier as parseAgentId,
  parseRequirement as parseRequirementValue,
  parseSignatureError,
  type PublicKey,
  type SigningKey,
} from '@aauth-kit/core';
import { algOf11, confirmationJwk, parseTokenList, serverIdentifierProblem as serverIdProblem, toHeaderMap } from '@aauth-kit/core/internal';

// The agent's view of the -11 wire (AAuth -11, HTTP Signature Keys -09): thin adapters over
// @aauth-kit/core's codecs, plus `signJwt11`, which stays here because core's signer is async
// (`signJwt(..., { generation: 'draft-11' })`) and its `mintAgentToken` refuses upper case in the
// local part, which -11 AP-01 allows.

/** The fully specified JOSE `alg` of a key (profile section 3): `Ed25519` or `ES256`, never `EdDSA`. */
export function joseAlg(key: PublicKey): 'Ed25519' | 'ES256' {
  return algOf11(key.jwk);
}

/** The public JWK with its `alg`, as `cnf.jwk` carries it in -11 (profile sections 3 and 6). */
export function jwkWithAlg(key: PublicKey): Record<string, string> {
  return { ...confirmationJwk(key) } as Record<string, string>;
}

const b64u = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

/**
 * Sign a compact JWS with `Ed25519` / `ES256` as the JWS `alg` (profile section 3). The kit's keys
 * sign raw bytes (Ed25519, or P-256 as r||s), which is the JWS signature format for both.
 */
export function signJwt11(key: SigningKey, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const protectedHeader = b64u(JSON.stringify({ ...header, alg: joseAlg(key), kid: key.kid }));
  const payload = b64u(JSON.stringify(claims));
  const signature = key.sign(Buffer.from(`${protectedHeader}.${payload}`, 'ascii'));
  return `${protectedHeader}.${payload}.${b64u(signature)}`;
}

/** A parsed `AAuth-Requirement` (profile section 7). */
export interface Requirement {
  requirement: string;
  resourceToken?: string | undefined;
  url?: string | undefined;
  code?: string | undefined;
  params: Record<string, string | true>;
}

/** The `AAuth-Requirement` of a response, or undefined; throws `challenge_malformed` on a broken header. */
export function parseRequirement(headers: HeadersInput): Requirement | undefined {
  const lines = toHeaderMap(headers).get('aauth-requirement');
  if (lines === undefined || lines.length === 0) return undefined;
  const parsed = parseRequirementValue(lines);
  const params: Record<string, string | true> = {};
  for (const [k, v] of Object.entries(parsed.params)) params[k] = typeof v === 'string' ? v : v === true ? true : String(v);
  return { requirement: parsed.requirement, resourceToken: parsed.resourceToken, url: parsed.url, code: parsed.code, params };
}

/** A `Signature-Error` header (-09), parsed; undefined when absent or malformed. */
function signatureErrorOf(headers: HeadersInput): ReturnType<typeof parseSignatureError> {
  const lines = toHeaderMap(headers).get('signature-error');
  if (lines === undefined) return undefined;
  try {
    return parseSignatureError(lines);
  } catch {
    return undefined;
  }
}

/** The `error` member of a `Signature-Error` header (-09), or undefined (also for a malformed one). */
export function signatureErrorCode(headers: HeadersInput): string | undefined {
  return signatureErrorOf(headers)?.error;
}

/** The `required_input` of a `Signature-Error` (the components a verifier wants covered), or undefined. */
export function requiredInputOf(headers: HeadersInput): string[] | undefined {
  return signatureErrorOf(headers)?.requiredInput;
}

/** The members of `Accept-Signature-Scheme` (an sf list of tokens), or undefined when absent. */
export function acceptedSchemes(headers: HeadersInput): string[] | undefined {
  const lines = toHeaderMap(headers).get('accept-signature-scheme');
  return lines === undefined ? undefined : parseTokenList(lines);
}

/**
 * Why `value` is not a server identifier (profile section 2), or undefined: `https`, scheme and
 * host only, lower case. `allowLoopback` admits http and a port on loopback hosts (development).
 */
export function serverIdentifierProblem(value: unknown, allowLoopback = false): string | undefined {
  return serverIdProblem(value, { allowLoopback });
}

/** Agent identifier `aauth:local@domain` (profile section 2; upper case allowed); the parts, or undefined. */
export function parseAgentIdentifier(value: unknown): { local: string; domain: string } | undefined {
  const parsed = parseAgentId(value, { allowLoopback: true });
  return parsed === undefined ? undefined : { local: parsed.local, domain: parsed.domain };
}

/**
 * Whether a 401 shows a -11 resource (profile section 1): an `AAuth-Requirement` asking for an
 * agent or person token, or for an auth token with an `aa-resource+jwt` resource token; or a
 * `Signature-Error` whose `Accept-Signature-Scheme` does not include the scheme the agent used.
 * (The older draft's `AAuth-Requirement` with a `resource+jwt` token is the Keycloak profile's.)
 */
export function looksDraft11(status: number, headers: HeadersInput, usedScheme: string): boolean {
  if (status !== 401) return false;
  let requirement: Requirement | undefined;
  try {
    requirement = parseRequirement(headers);
  } catch {
    requirement = undefined;
  }
  if (requirement !== undefined) {
    if (requirement.requirement === 'agent-token' || requirement.requirement === 'person-token') return true;
    if (requirement.requirement === 'auth-token' && requirement.resourceToken !== undefined) {
      const dot = requirement.resourceToken.indexOf('.');
      try {
        const header = JSON.parse(Buffer.from(requirement.resourceToken.slice(0, dot), 'base64url').toString('utf8')) as { typ?: unknown };
        return header.typ === 'aa-resource+jwt';
      } catch {
        return false;
      }
    }
    return false;
  }
  const map = toHeaderMap(headers);
  if (map.has('aauth') || map.has('agent-auth')) return false;
  const schemes = acceptedSchemes(headers);
  return signatureErrorCode(headers) !== undefined && schemes !== undefined && !schemes.includes(usedScheme);
}

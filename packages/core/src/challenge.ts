import { AAuthError } from './errors.js';
import { type HeadersInput, toHeaderMap } from './lib/request.js';
import { serializeString } from './lib/sfv.js';

/** The `require` values the kit knows (wire profile section 5, and `interaction` from section 8). */
export const REQUIRE_LEVELS = ['pseudonym', 'identity', 'auth-token', 'interaction'] as const;
export type RequireLevel = (typeof REQUIRE_LEVELS)[number];

/** Which header carried the challenge. */
export type ChallengeSpelling = 'AAuth' | 'AAuth-Requirement' | 'Agent-Auth';

/** A parsed challenge in one typed shape, whatever its spelling. */
export interface Challenge {
  /** The requirement as sent; an unknown value parses but is `satisfiable: false`. */
  require: string;
  /** False when `require` is not a value this kit can answer. */
  satisfiable: boolean;
  resourceToken?: string;
  /** The auth server issuer; absent in the newer draft's spelling (the resource token's `aud` names it). */
  authServer?: string;
  /** Interaction code (`require=interaction`). */
  code?: string;
  spelling: ChallengeSpelling;
  /** All parameters as sent, names as on the wire. */
  params: Record<string, string | true>;
}

export interface BuildChallengeOptions {
  require: RequireLevel;
  resourceToken?: string | undefined;
  authServer?: string | undefined;
  code?: string | undefined;
}

const MAX_CHALLENGE = 16 * 1024;

function checkBuildOptions(options: BuildChallengeOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (!(REQUIRE_LEVELS as readonly string[]).includes(options.require)) {
    throw new TypeError(`options.require must be one of ${REQUIRE_LEVELS.join(', ')}`);
  }
  for (const name of ['resourceToken', 'authServer', 'code'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new TypeError(`options.${name} must be a non-empty string`);
    }
  }
}

/**
 * Build the `AAuth` header value: `require=auth-token; resource-token="..."; auth-server="..."`
 * (wire profile section 5). Throws a `TypeError` for an unknown level or a value the header cannot carry.
 */
export function buildChallenge(options: BuildChallengeOptions): string {
  checkBuildOptions(options);
  let out = `require=${options.require}`;
  if (options.resourceToken !== undefined) out += `; resource-token=${serializeString(options.resourceToken)}`;
  if (options.authServer !== undefined) out += `; auth-server=${serializeString(options.authServer)}`;
  if (options.code !== undefined) out += `; code=${serializeString(options.code)}`;
  return out;
}

/** Build the newer draft's `AAuth-Requirement` value: `requirement=auth-token; resource-token="..."`. */
export function buildRequirement(options: BuildChallengeOptions): string {
  checkBuildOptions(options);
  let out = `requirement=${options.require}`;
  if (options.resourceToken !== undefined) out += `; resource-token=${serializeString(options.resourceToken)}`;
  if (options.code !== undefined) out += `; code=${serializeString(options.code)}`;
  return out;
}

/** Split `a=b; c="d;e"; f` into name/value pairs, honouring quoted strings. */
function splitParams(value: string, spelling: ChallengeSpelling): Array<[string, string | true]> {
  const out: Array<[string, string | true]> = [];
  let i = 0;
  const n = value.length;
  const fail = (why: string): never => {
    throw new AAuthError('challenge_malformed', `${spelling} header is malformed: ${why}`);
  };
  while (i < n) {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    const start = i;
    while (i < n && /[A-Za-z0-9_.*-]/.test(value[i]!)) i++;
    const name = value.slice(start, i).toLowerCase();
    if (name.length === 0) fail(`expected a parameter name at position ${i}`);
    while (i < n && value[i] === ' ') i++;
    let val: string | true = true;
    if (value[i] === '=') {
      i++;
      while (i < n && value[i] === ' ') i++;
      if (value[i] === '"') {
        i++;
        let s = '';
        for (;;) {
          if (i >= n) fail('unterminated quoted string');
          const ch = value[i++]!;
          if (ch === '\\') {
            if (i >= n) fail('unterminated escape');
            s += value[i++];
          } else if (ch === '"') break;
          else s += ch;
        }
        val = s;
      } else {
        const vs = i;
        while (i < n && value[i] !== ';' && value[i] !== ',' && value[i] !== ' ') i++;
        val = value.slice(vs, i);
        if (val.length === 0) fail(`empty value for ${name}`);
      }
    }
    out.push([name, val]);
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    if (i < n) {
      if (value[i] !== ';' && value[i] !== ',') fail(`expected ; at position ${i}`);
      i++;
    }
  }
  return out;
}

function known(require: string): boolean {
  return (REQUIRE_LEVELS as readonly string[]).includes(require);
}

/** Parse one challenge header value of the given spelling. Throws `challenge_malformed`. */
export function parseChallengeHeader(value: string, spelling: ChallengeSpelling = 'AAuth'): Challenge {
  if (value.length > MAX_CHALLENGE) throw new AAuthError('challenge_malformed', `${spelling} header is larger than 16 KiB`);
  const pairs = splitParams(value, spelling);
  const params: Record<string, string | true> = {};
  for (const [k, v] of pairs) if (!(k in params)) params[k] = v;
  const str = (name: string): string | undefined => (typeof params[name] === 'string' ? (params[name] as string) : undefined);

  let require: string | undefined;
  let resourceToken: string | undefined;
  let authServer: string | undefined;
  if (spelling === 'Agent-Auth') {
    // Old form: `httpsig; auth-token; resource_token="..."; auth_server="..."`.
    if (params['auth-token'] === true) require = 'auth-token';
    else if (params.identity === true) require = 'identity';
    else if (params.httpsig === true) require = 'pseudonym';
    resourceToken = str('resource_token') ?? str('resource-token');
    authServer = str('auth_server') ?? str('auth-server');
  } else {
    require = str(spelling === 'AAuth' ? 'require' : 'requirement') ?? str('require') ?? str('requirement');
    resourceToken = str('resource-token');
    authServer = str('auth-server');
  }
  if (require === undefined) throw new AAuthError('challenge_malformed', `${spelling} header names no requirement`);
  const challenge: Challenge = { require, satisfiable: known(require), spelling, params };
  if (resourceToken !== undefined) challenge.resourceToken = resourceToken;
  if (authServer !== undefined) challenge.authServer = authServer;
  const code = str('code');
  if (code !== undefined) challenge.code = code;
  return challenge;
}

/**
 * Find and parse the challenge in response headers, trying `AAuth`, then `AAuth-Requirement`,
 * then the old `Agent-Auth`. Returns undefined when none is present.
 */
export function parseChallenge(headers: HeadersInput): Challenge | undefined {
  const map = toHeaderMap(headers);
  for (const [name, spelling] of [
    ['aauth', 'AAuth'],
    ['aauth-requirement', 'AAuth-Requirement'],
    ['agent-auth', 'Agent-Auth'],
  ] as const) {
    const lines = map.get(name);
    if (lines && lines.length > 0) return parseChallengeHeader(lines.join(', '), spelling);
  }
  return undefined;
}

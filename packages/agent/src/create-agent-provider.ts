import { randomUUID } from 'node:crypto';
import { computeThumbprint, type PublicKey, type SigningKey } from '@aauth-kit/core';
import { type DocumentHandler, serveDocuments } from '@aauth-kit/core/internal';
import { jwkWithAlg, parseAgentIdentifier, serverIdentifierProblem, signJwt11 } from './lib/wire-11.js';

/** The longest agent token lifetime, seconds (profile section 6: at most 24 h). */
export const MAX_AGENT_TOKEN_LIFETIME = 24 * 3600;

/** Options of {@link createAgentProvider}. Validated when the provider is created. */
export interface AgentProviderOptions {
  /** The provider's server identifier (`https://host`), the `iss` of its agent tokens. */
  issuer: string;
  /** The provider's signing key (Ed25519 or P-256): it signs agent tokens and is published with `alg`. */
  key: SigningKey;
  /** Accept `http` and a port on `localhost` / `127.0.0.1` in `issuer` (development only); default false. */
  allowLoopback?: boolean | undefined;
  /** Display fields of `aauth-agent.json`: `name`, `description`, `logo_uri`, `documentation_uri`, `tos_uri`, `policy_uri`. */
  metadata?: Record<string, string> | undefined;
  /** Clock: epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

/** What {@link AgentProvider.mintAgentToken} needs. */
export interface MintAgentTokenOptions {
  /** The `local` part of `aauth:local@domain` (`A-Z a-z 0-9 - _ + .`, 1-255 characters). */
  local: string;
  /** The agent's public key (its `cnf.jwk`, with `alg`). */
  agentKey: PublicKey;
  /** The agent's person server (`ps`), a server identifier. */
  ps?: string | undefined;
  /** Lifetime in seconds; default 3600, at most 86 400. */
  lifetime?: number | undefined;
  /** Marks a sub-agent: the parent's agent identifier. */
  parentAgent?: string | undefined;
}

/** An agent provider (AAuth -11 section 5): issues `aa-agent+jwt` tokens and serves its metadata. */
export interface AgentProvider {
  readonly issuer: string;
  /** The `aauth:...@domain` identifier for `local`. */
  agentId(local: string): string;
  /** Mint an agent token (`typ aa-agent+jwt`, JWS `alg` `Ed25519`/`ES256`). */
  mintAgentToken(options: MintAgentTokenOptions): string;
  /** `/.well-known/aauth-agent.json` (`issuer`, `jwks_uri`, display fields) and `/.well-known/jwks.json` (keys with `alg`). */
  wellKnown(): DocumentHandler;
  /** The metadata document as served. */
  readonly document: Readonly<Record<string, string>>;
}

const DISPLAY = new Set(['name', 'description', 'logo_uri', 'logo_dark_uri', 'documentation_uri', 'tos_uri', 'policy_uri']);

/**
 * Create an agent provider: the party whose `iss` and keys vouch for an agent's identifier and key
 * (profile sections 2 and 6). Misuse throws a `TypeError` naming the option.
 */
export function createAgentProvider(options: AgentProviderOptions): AgentProvider {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const problem = serverIdentifierProblem(options.issuer, options.allowLoopback === true);
  if (problem) throw new TypeError(`options.issuer ${problem} (got ${JSON.stringify(options.issuer)})`);
  const key = options.key;
  if (typeof key?.sign !== 'function' || typeof key.kid !== 'string') throw new TypeError('options.key must be a SigningKey from @aauth-kit/core');
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (!DISPLAY.has(k)) throw new TypeError(`options.metadata.${k} is not a display field of aauth-agent.json`);
    if (typeof v !== 'string') throw new TypeError(`options.metadata.${k} must be a string`);
    metadata[k] = v;
  }
  const now = options.now ?? (() => Date.now() / 1000);
  const issuer = options.issuer;
  const domain = new URL(issuer).host;
  const jwksUri = `${issuer}/.well-known/jwks.json`;
  // Section 2: `issuer` equals the URL the document is fetched from minus `/.well-known/aauth-agent.json`.
  const document = Object.freeze({ issuer, jwks_uri: jwksUri, ...metadata });
  const jwks = { keys: [{ ...jwkWithAlg(key), kid: key.kid, use: 'sig' }] };

  const agentId = (local: string): string => {
    const id = `aauth:${local}@${domain}`;
    if (parseAgentIdentifier(id) === undefined) throw new TypeError(`${JSON.stringify(local)} is not a valid local part of an agent identifier`);
    return id;
  };

  return Object.freeze({
    issuer,
    document,
    agentId,
    mintAgentToken(mint: MintAgentTokenOptions): string {
      const lifetime = mint.lifetime ?? 3600;
      if (!Number.isFinite(lifetime) || lifetime <= 0 || lifetime > MAX_AGENT_TOKEN_LIFETIME) {
        throw new TypeError(`lifetime must be a positive number of seconds, at most ${MAX_AGENT_TOKEN_LIFETIME}`);
      }
      if (mint.ps !== undefined) {
        const psProblem = serverIdentifierProblem(mint.ps, options.allowLoopback === true);
        if (psProblem) throw new TypeError(`ps ${psProblem}`);
      }
      computeThumbprint(mint.agentKey.jwk); // a usable public key, or a TypeError-like AAuthError
      const iat = Math.floor(now());
      const claims: Record<string, unknown> = {
        iss: issuer,
        dwk: 'aauth-agent.json',
        sub: agentId(mint.local),
        jti: randomUUID(),
        cnf: { jwk: jwkWithAlg(mint.agentKey) },
        iat,
        exp: iat + Math.floor(lifetime),
      };
      if (mint.ps !== undefined) claims.ps = mint.ps;
      if (mint.parentAgent !== undefined) claims.parent_agent = mint.parentAgent;
      return signJwt11(key, { typ: 'aa-agent+jwt' }, claims);
    },
    wellKnown(): DocumentHandler {
      return serveDocuments({ '/.well-known/aauth-agent.json': document, '/.well-known/jwks.json': jwks }, 'agentProvider.wellKnown()');
    },
  });
}

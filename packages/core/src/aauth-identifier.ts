/**
 * -11 identifiers (draft-11 profile section 2; AAuth -11 "Agent Identifiers" and "Server
 * Identifiers"): `aauth:local@domain` for agents, `https://host` for servers. Compared byte for
 * byte; these functions only say whether a value is well formed.
 */

/** Options of the identifier checks. */
export interface IdentifierOptions {
  /**
   * Accept loopback development values: `http` or `https` with an optional port on `localhost`,
   * `*.localhost`, `127.0.0.1` or `[::1]` (and, in agent identifiers, such a host with a port).
   * Default false: -11 allows `https` and a bare host only.
   */
  allowLoopback?: boolean | undefined;
}

/** A well-formed agent identifier, split. */
export interface AgentIdentifier {
  /** The whole identifier, as given. */
  id: string;
  /** The local part (`planner.7f3c+search1`). */
  local: string;
  /** The local part before `+` (the parent's local part for a sub-agent). */
  name: string;
  /** After `+`, for a sub-agent. Never a protocol decision: `parent_agent` is authoritative. */
  discriminator?: string;
  /** The agent provider's domain. */
  domain: string;
}

const LOCAL_LENIENT = /^[A-Za-z0-9._+-]{1,255}$/;
const LOCAL_STRICT = /^[a-z0-9._+-]{1,255}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOOPBACK = /^(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.localhost|127\.0\.0\.1|\[::1\])$/;

/** A lower-case DNS name of A-labels (RFC 5890 ACE form for IDNs): the host of a server identifier. */
function isHost(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => LABEL.test(label));
}

function loopbackHostPort(value: string): boolean {
  const m = /^(\[::1\]|[^:/?#@[\]]+)(?::(\d{1,5}))?$/.exec(value);
  if (!m || !LOOPBACK.test(m[1]!)) return false;
  return m[2] === undefined || (Number(m[2]) > 0 && Number(m[2]) < 65536 && !m[2].startsWith('0'));
}

/**
 * Why `value` is not a -11 server identifier, or undefined when it is: `https`, a lower-case host
 * of A-labels, and nothing else (no port, path, query, fragment, credentials or trailing slash).
 * With `allowLoopback`, also `http(s)://localhost[:port]` and the other loopback hosts.
 */
export function serverIdentifierProblem(value: unknown, options: IdentifierOptions = {}): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
  if (value.length > 2048) return 'is too long';
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(value);
  if (!m) return 'must be an absolute https URL';
  const [, scheme, rest] = m as unknown as [string, string, string];
  // A loopback host (its port included) allowed with http: anything after it (the Keycloak issuer's
  // /realms/x path, a trailing slash) is named by the checks below, not as the scheme.
  const loopback = (scheme === 'http' || scheme === 'https') && loopbackHostPort(/^[^/?#]*/.exec(rest)![0]);
  if (loopback && options.allowLoopback) {
    if (!/[/?#]/.test(rest)) return undefined;
  } else if (scheme !== 'https') {
    return scheme === 'http' && loopback ? 'must use https (http only for a loopback host, with allowLoopback, in development)' : 'must use https';
  }
  if (rest.length === 0) return 'must name a host';
  if (rest.includes('@')) return 'must not contain credentials';
  if (rest.includes('?') || rest.includes('#')) return 'must not have a query or fragment';
  if (rest.includes('/')) return rest.endsWith('/') && rest.indexOf('/') === rest.length - 1 ? 'must not end with a slash' : 'must not have a path';
  if (rest.includes(':')) return 'must not have a port';
  if (rest !== rest.toLowerCase()) return 'must be lower case';
  if (!isHost(rest)) return 'must be a DNS name of A-labels';
  return undefined;
}

/** Options of {@link parseAgentIdentifier}. */
export interface AgentIdentifierOptions extends IdentifierOptions {
  /**
   * Refuse upper case in the local part, as the published -11 text says (`a-z`). Default false:
   * upper case is accepted, as the Go reference and the draft-11 profile do (identifiers are
   * compared case-sensitively either way). Use it for identifiers this kit mints.
   */
  strict?: boolean | undefined;
}

/**
 * Parse `aauth:local@domain` (a sub-agent's local part is `name+discriminator`). Returns undefined
 * for anything else: an empty or over-long (255) local part, characters outside `A-Za-z0-9._+-`,
 * more than one `+` or an empty side of it, a domain that is not a server identifier's host.
 */
export function parseAgentIdentifier(value: unknown, options: AgentIdentifierOptions = {}): AgentIdentifier | undefined {
  if (typeof value !== 'string' || !value.startsWith('aauth:') || value.length > 600) return undefined;
  const rest = value.slice('aauth:'.length);
  const at = rest.indexOf('@');
  if (at < 0 || rest.indexOf('@', at + 1) >= 0) return undefined;
  const local = rest.slice(0, at);
  const domain = rest.slice(at + 1);
  if (!(options.strict ? LOCAL_STRICT : LOCAL_LENIENT).test(local)) return undefined;
  const parts = local.split('+');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) return undefined;
  const hostOk = isHost(domain) || (options.allowLoopback === true && loopbackHostPort(domain));
  if (!hostOk) return undefined;
  const id: AgentIdentifier = { id: value, local, name: parts[0]!, domain };
  if (parts.length === 2) id.discriminator = parts[1]!;
  return id;
}

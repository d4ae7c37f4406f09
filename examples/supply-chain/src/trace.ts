import { decodeToken, parseChallenge, parseRequirement, parseSignatureKey } from '@aauth-kit/core';

/** One HTTP hop of the demo, observed on the wire (from the caller's side). */
export interface Hop {
  n: number;
  from: string;
  to: string;
  method: string;
  path: string;
  status: number;
  /** Signature-Key scheme of the request, if signed. */
  scheme?: string;
  /** The token presented in `Signature-Key: sig=(scheme=jwt ...)`, shortened, and the claims that matter. */
  presented?: TokenView;
  /** What the response carried: a challenge, a token, an interaction, an error. */
  challenge?: {
    require: string;
    resourceToken?: TokenView;
    authServer?: string;
    /** The header it came in: `AAuth` (Keycloak profile) or `AAuth-Requirement` (-11); default `AAuth`. */
    header?: 'AAuth' | 'AAuth-Requirement';
  };
  issued?: TokenView;
  interaction?: { code: string };
  error?: { error: string; description?: string };
  /** What the request body asked for at a token endpoint (key names only). */
  asked?: string[];
}

/** Claims a person wants to see, a shortened token for display, and the whole token (`raw`). */
export interface TokenView {
  token: string;
  /** The whole compact JWT, so it can be fed to `aauth decode`. */
  raw: string;
  typ?: string;
  claims: { iss?: unknown; dwk?: unknown; sub?: unknown; agent?: unknown; aud?: unknown; scope?: unknown; act?: unknown; ps?: unknown; exp?: unknown };
}

export interface TraceNote {
  n: number;
  actor: string;
  text: string;
}

/** `request` entries announce a hop as it leaves; the `hop` entry with the same `n` completes it. */
export type TraceEntry = ({ kind: 'request' } & Hop) | ({ kind: 'hop' } & Hop) | ({ kind: 'note' } & TraceNote);

/** Shorten a token for display: first 12 and last 6 characters. */
export function shorten(token: string): string {
  return token.length <= 24 ? token : `${token.slice(0, 12)}…${token.slice(-6)}`;
}

export function viewToken(token: string): TokenView | undefined {
  try {
    const { header, claims } = decodeToken(token);
    const pick = (k: string) => claims[k];
    const view: TokenView = {
      token: shorten(token),
      raw: token,
      claims: { iss: pick('iss'), dwk: pick('dwk'), sub: pick('sub'), agent: pick('agent'), aud: pick('aud'), scope: pick('scope'), act: pick('act'), ps: pick('ps'), exp: pick('exp') },
    };
    if (typeof header.typ === 'string') view.typ = header.typ;
    for (const k of Object.keys(view.claims) as Array<keyof TokenView['claims']>) if (view.claims[k] === undefined) delete view.claims[k];
    return view;
  } catch {
    return undefined;
  }
}

/**
 * Collects the demo's hops. `fetchFor(name)` wraps the fetch an agent uses, so every request the
 * agent sends (and every answer) is recorded from the wire, exactly as it happened.
 */
export class Trace {
  readonly entries: TraceEntry[] = [];
  private n = 0;
  constructor(
    readonly names: Map<string, string>,
    private readonly sink: (entry: TraceEntry) => void,
  ) {}

  /** Name a service by its origin for display. */
  name(origin: string, name: string): void {
    this.names.set(origin, name);
  }

  note(actor: string, text: string): void {
    const entry: TraceEntry = { kind: 'note', n: ++this.n, actor, text };
    this.entries.push(entry);
    this.sink(entry);
  }

  hops(): Hop[] {
    return this.entries.filter((e): e is { kind: 'hop' } & Hop => e.kind === 'hop');
  }

  /** `traced(method, url)` picks the requests to record (default all); the others go straight to `inner`. */
  fetchFor(from: string, inner: typeof fetch = fetch, traced: (method: string, url: URL) => boolean = () => true): typeof fetch {
    return async (input, init) => {
      const request = new Request(input as string | URL | Request, init);
      const url = new URL(request.url);
      if (!traced(request.method, url)) return inner(request);
      const hop: Hop = { n: ++this.n, from, to: this.names.get(url.origin) ?? url.origin, method: request.method, path: url.pathname, status: 0 };
      const sk = request.headers.get('signature-key');
      if (sk) {
        try {
          const parsed = parseSignatureKey(sk);
          hop.scheme = parsed.key.scheme;
          if (parsed.key.scheme === 'jwt') hop.presented = viewToken(parsed.key.jwt);
        } catch {
          hop.scheme = 'unparseable';
        }
      }
      // Token endpoints: the Keycloak profile's `/token`, -11's `/person-token` and `/auth-token`.
      if (request.method === 'POST' && /[/-]token$/.test(url.pathname)) {
        try {
          hop.asked = Object.keys(JSON.parse(await request.clone().text()) as object);
        } catch {
          hop.asked = [];
        }
      }
      this.sink({ kind: 'request', ...hop });
      let response: Response;
      try {
        response = await inner(request);
      } catch (error) {
        hop.error = { error: 'network_error', description: (error as Error).message };
        this.entries.push({ kind: 'hop', ...hop });
        this.sink({ kind: 'hop', ...hop });
        throw error;
      }
      hop.status = response.status;
      try {
        const challenge = parseChallenge(response.headers);
        if (challenge) {
          hop.challenge = { require: challenge.require };
          if (challenge.resourceToken) {
            const view = viewToken(challenge.resourceToken);
            if (view) hop.challenge.resourceToken = view;
          }
          if (challenge.authServer) hop.challenge.authServer = challenge.authServer;
          if (challenge.code) hop.interaction = { code: challenge.code };
        }
      } catch {
        // A malformed challenge is the agent's to report; the trace only shows what parses.
      }
      // -11 (profile section 7): `AAuth-Requirement: requirement=...; resource-token="..."` or an interaction.
      try {
        const requirement = response.headers.has('aauth-requirement') ? parseRequirement(response.headers.get('aauth-requirement')!) : undefined;
        if (requirement) {
          hop.challenge = { require: requirement.requirement, header: 'AAuth-Requirement' };
          const rt = requirement.params['resource-token'];
          if (typeof rt === 'string') {
            const view = viewToken(rt);
            if (view) hop.challenge.resourceToken = view;
          }
          if (requirement.code) hop.interaction = { code: requirement.code };
        }
      } catch {
        // Malformed: the agent reports it.
      }
      if ((response.headers.get('content-type') ?? '').includes('json')) {
        try {
          const body = (await response.clone().json()) as Record<string, unknown>;
          // -11 person token endpoint answers `person_token`; auth token endpoints `auth_token`.
          const issued = typeof body.auth_token === 'string' ? body.auth_token : typeof body.person_token === 'string' ? body.person_token : undefined;
          if (issued !== undefined) {
            const view = viewToken(issued);
            if (view) hop.issued = view;
          }
          if (typeof body.error === 'string') {
            hop.error = { error: body.error };
            // Keycloak profile: `error_description`; -11 problem+json: `detail`.
            const description = typeof body.error_description === 'string' ? body.error_description : typeof body.detail === 'string' ? body.detail : undefined;
            if (description !== undefined) hop.error.description = description;
          }
          if (typeof body.code === 'string' && response.status === 202) hop.interaction = { code: body.code };
        } catch {
          // Not JSON after all: nothing to show.
        }
      }
      this.entries.push({ kind: 'hop', ...hop });
      this.sink({ kind: 'hop', ...hop });
      return response;
    };
  }
}

/**
 * Formats entries for a person, live: a request line when a hop leaves, its answer when it comes
 * back (naming the hop again when other hops happened in between, e.g. while an agent called on).
 */
export class TraceFormatter {
  private last = 0;
  /** `fullTokens` prints whole tokens (for `aauth decode`) instead of shortened ones. */
  constructor(
    private readonly names: Map<string, string> = new Map(),
    private readonly fullTokens = false,
  ) {}

  private tok(view: TokenView): string {
    return this.fullTokens ? view.raw : view.token;
  }

  private short(value: unknown): string {
    if (typeof value === 'string') {
      for (const [origin, name] of this.names) {
        if (value === origin) return name;
        if (value.startsWith(`${origin}/`)) return `${name}${value.slice(origin.length)}`;
      }
      return value;
    }
    return JSON.stringify(value);
  }

  private act(act: unknown): string {
    if (typeof act !== 'object' || act === null) return JSON.stringify(act);
    const a = act as { agent?: unknown; sub?: unknown; act?: unknown };
    const inner = a.act !== undefined ? `, act: ${this.act(a.act)}` : '';
    return `{agent: ${this.short(a.agent)}${a.sub !== undefined ? `, sub: ${String(a.sub)}` : ''}${inner}}`;
  }

  /** `auth token` (Keycloak profile), or the -11 kind with its typ: `person token (aa-person+jwt)`. */
  kind(view: TokenView, fallback: string): string {
    const m = /^aa-(agent|person|resource|auth)\+jwt$/.exec(view.typ ?? '');
    return m ? `${m[1]} token (${view.typ})` : fallback;
  }

  claims(view: TokenView): string {
    const c = view.claims;
    const parts: string[] = [];
    // -11: the issuer matters (person server, access server, agent provider, resource); the Keycloak profile has one.
    if (c.iss !== undefined && /^aa-/.test(view.typ ?? '')) parts.push(`iss=${this.short(c.iss)}`);
    if (c.sub !== undefined) parts.push(`sub=${String(c.sub)}`);
    if (c.agent !== undefined) parts.push(`agent=${this.short(c.agent)}`);
    if (c.aud !== undefined) parts.push(`aud=${this.short(c.aud)}`);
    if (c.scope !== undefined) parts.push(`scope="${String(c.scope)}"`);
    if (c.act !== undefined) parts.push(`act=${this.act(c.act)}`);
    if (c.ps !== undefined) parts.push(`ps=${this.short(c.ps)}`);
    return parts.join(' ');
  }

  /** The last poll printed (a GET answered 202 with an interaction code), and the repeats of it held back since. */
  private poll: { from: string; to: string; path: string; code: string; repeats: number; held: ({ kind: 'request' } & Hop) | undefined } | undefined;

  /**
   * A consent poll repeating the one before it (the same GET, 202, the same code; once a second
   * while a person decides): held back, so the consent URL above does not scroll away. The first
   * poll is printed; the repeats are counted in one line printed before whatever comes next.
   */
  private isRepeat(entry: ({ kind: 'request' } & Hop) | ({ kind: 'hop' } & Hop)): boolean {
    const p = this.poll;
    return p !== undefined && entry.method === 'GET' && entry.from === p.from && entry.to === p.to && entry.path === p.path;
  }

  /**
   * The lines for one entry, or '' when it is a repeated consent poll held back (see
   * {@link isRepeat}); a caller printing lines skips ''.
   */
  format(entry: TraceEntry): string {
    if (entry.kind === 'request' && this.isRepeat(entry)) {
      this.poll!.held = entry;
      return '';
    }
    if (entry.kind === 'hop' && this.poll?.held?.n === entry.n) {
      const p = this.poll!;
      const held = p.held!;
      p.held = undefined;
      if (entry.status === 202 && entry.interaction?.code === p.code && !entry.error) {
        p.repeats++;
        return '';
      }
      // The poll that ends the wait: the count, then the request held back and its answer.
      return [this.flushPolls(), this.formatOne(held), this.formatOne(entry)].filter((l) => l !== '').join('\n');
    }
    return [this.flushPolls(), this.formatOne(entry)].filter((l) => l !== '').join('\n');
  }

  /** The line counting held-back polls (and forget them), or ''. */
  private flushPolls(): string {
    const p = this.poll;
    if (p === undefined || p.repeats === 0) return '';
    const line = `      … ${p.repeats} more poll${p.repeats === 1 ? '' : 's'} of the same, answered 202 (waiting for the user)`;
    p.repeats = 0;
    return line;
  }

  private formatOne(entry: TraceEntry): string {
    if (entry.kind === 'hop') {
      const p = this.poll;
      if (entry.method === 'GET' && entry.status === 202 && entry.interaction !== undefined && !entry.error) {
        if (p === undefined || p.path !== entry.path || p.code !== entry.interaction.code) {
          this.poll = { from: entry.from, to: entry.to, path: entry.path, code: entry.interaction.code, repeats: 0, held: undefined };
        }
      } else if (p !== undefined && entry.path === p.path) {
        this.poll = undefined;
      }
    }
    const num = String(entry.n).padStart(2, ' ');
    if (entry.kind === 'note') {
      this.last = entry.n;
      return `${num}  ${entry.actor}: ${entry.text}`;
    }
    if (entry.kind === 'request') {
      this.last = entry.n;
      const scheme = entry.scheme ? ` [${entry.scheme}]` : ' [unsigned]';
      const asked = entry.asked ? ` {${entry.asked.join(', ')}}` : '';
      const lines = [`${num}  ${entry.from} → ${entry.to}: ${entry.method} ${entry.path}${asked}${scheme}`];
      if (entry.presented) lines.push(`      presents ${this.kind(entry.presented, 'auth token')} ${this.tok(entry.presented)}  ${this.claims(entry.presented)}`);
      return lines.join('\n');
    }
    const again = this.last === entry.n ? '' : ` (${entry.n}: ${entry.to} answers ${entry.from})`;
    this.last = entry.n;
    let answer = `      ← ${entry.status || 'no answer'}${again}`;
    if (entry.challenge) answer += entry.challenge.header === 'AAuth-Requirement' ? ` AAuth-Requirement: requirement=${entry.challenge.require}` : ` AAuth require=${entry.challenge.require}`;
    if (entry.interaction) answer += ` interaction code ${entry.interaction.code}`;
    if (entry.error) answer += ` ${entry.error.error}${entry.error.description ? `: ${entry.error.description}` : ''}`;
    const lines = [answer];
    if (entry.challenge?.resourceToken) {
      lines.push(`        ${this.kind(entry.challenge.resourceToken, 'resource token')} ${this.tok(entry.challenge.resourceToken)}  ${this.claims(entry.challenge.resourceToken)}`);
    }
    if (entry.issued) lines.push(`        ${this.kind(entry.issued, 'auth token')} ${this.tok(entry.issued)}  ${this.claims(entry.issued)}`);
    return lines.join('\n');
  }
}

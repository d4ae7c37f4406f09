import { AAuthChallengeError, createAgent, type AgentEvent, type Clarification } from '@aauth-kit/agent';
import { AAuthError, decodeToken, loadKeyFile, type Challenge } from '@aauth-kit/core';
import { parseCommand } from '../lib/parse-command.js';
import { printable } from '../lib/printable.js';
import { checkLocalFile, MAX_KEY_FILE_BYTES, readLocalFile } from '../lib/read-local-file.js';
import { type Io, UsageError } from '../lib/usage-error.js';

export const requestHelp = `Usage: aauth request URL --key FILE [--identity URL] [-X METHOD] [-d BODY|@FILE] [-H 'Name: value']...
                     [--auth-server ISSUER]... [--upstream-token TOKEN] [--signature-encoding E]
                     [--signature-key-form F] [--agent-token TOKEN|@FILE [--ps URL] [--allow-loopback]]
                     [--max-time SECONDS] [-i] [-v]

Send one signed request, like curl, answering AAuth challenges the way the agent client does.
  --key FILE          the agent's private key (JWK or PKCS#8 PEM), e.g. from "aauth keygen --out"
  --identity URL      the agent's identity URL (jwks_uri scheme); without it the request is pseudonymous (hwk)
  -X, --request M     method (default GET, or POST with -d)
  -d, --data BODY     request body; @FILE reads it from a file
  -H, --header H      extra header, "Name: value" (repeatable)
  --auth-server ISS   an auth server the agent trusts for challenges (repeatable)
  --upstream-token T  the auth token this agent was called with, for a token exchange
  --signature-encoding E
                      Signature value: base64 (default, RFC 8941) or base64url (the original Python agents)
  --signature-key-form F
                      Signature-Key: parenthesised (default, sig=(scheme=...), the Keycloak profile)
                      or dictionary (sig=jwks_uri;id=...;kid=..., the newer draft)
  --agent-token T     AAuth -11: an agent token (aa-agent+jwt) from your agent provider, bound to --key
                      (@FILE reads it from a file); requests are signed under sig=jwt with it, and
                      person and auth tokens come from the person server named by its ps claim
  --ps URL            with --agent-token: the person server to use instead of the token's ps
  --allow-loopback    with --agent-token: accept http and a port on localhost in -11 identifiers (development)
                      A question asked of the agent (a -11 clarification: the person's, an access
                      server's, a resource's) is shown on stderr and answered with one line typed at
                      the terminal; when stdin is no terminal it is not answered (the request ends)
  --max-time S        give up after S seconds, 0.001 to 4294967 (the token exchange, a consent wait and the
                      body included; default: none of its own, node's fetch gives up on silent servers
                      after 300 s). Ctrl-C (once) ends the request with exit 130; with --agent-token, a
                      request left waiting for the person is withdrawn at the person server first
  -i, --include       print the response status and headers (also of a refusal the agent gave up on)
  -v, --verbose       print each hop (signed, challenged, exchanged, retried) to stderr, and a refusal's
                      status, headers (AAuth, Signature-Error, ...) and body`;

const ENCODINGS = ['base64', 'base64url'] as const;
/** The longest --max-time: node's timers hold at most 2^32 - 1 ms. */
const MAX_TIME_SECONDS = Math.floor((2 ** 32 - 1) / 1000);
const FORMS = ['parenthesised', 'dictionary'] as const;

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${option} must be ${allowed.join(' or ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

/**
 * createAgent's TypeErrors name its options (`options.trustedAuthServers[0] must not end with a
 * slash`); here they come from flags, so they are bad arguments (exit 2) named by their flags.
 */
function withFlagNames<T>(values: { identity?: string | undefined; 'auth-server'?: string[] | undefined }, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const servers = values['auth-server'] ?? [];
    const message = error.message
      .replace(/^options\.trustedAuthServers\[(\d+)\]/, (_m, i: string) => `--auth-server ${servers[Number(i)] ?? ''}`)
      .replace(/^options\.identity\b/, `--identity ${values.identity ?? ''}`)
      .replace(/^options\.draft11\.ps\b/, '--ps')
      .replace(/^options\.draft11\.agentToken\b/, '--agent-token');
    // The value is shown with its flag already.
    throw new UsageError(/^--(auth-server|identity) /.test(message) ? message.replace(/ \(got "[^"]*"\)$/, '') : message);
  }
}

/** Print a response's status line and headers, as curl -i does. */
// A compact JWT in a header value (a resource token in a challenge, an issued token): shortened when printed.
const JWT_IN_TEXT = /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{12})[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*([A-Za-z0-9_-]{6})(?![A-Za-z0-9_-])/g;

function printHead(out: (text: string) => void, response: Response): void {
  out(`HTTP ${response.status} ${printable(response.statusText)}\n`);
  // The command never prints a whole token (README): `aauth decode` reads one given to it.
  response.headers.forEach((v, k) => out(`${k}: ${printable(v.replace(JWT_IN_TEXT, '$1…$2'))}\n`));
  out('\n');
}

/** `aauth request`: a curl-like signed request. */
export async function request(args: string[], io: Io, fetchImpl: typeof fetch = fetch): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      key: { type: 'string' },
      identity: { type: 'string' },
      request: { type: 'string', short: 'X' },
      data: { type: 'string', short: 'd' },
      header: { type: 'string', short: 'H', multiple: true },
      'auth-server': { type: 'string', multiple: true },
      'upstream-token': { type: 'string' },
      'signature-encoding': { type: 'string' },
      'signature-key-form': { type: 'string' },
      'max-time': { type: 'string' },
      'agent-token': { type: 'string' },
      ps: { type: 'string' },
      'allow-loopback': { type: 'boolean' },
      include: { type: 'boolean', short: 'i' },
      verbose: { type: 'boolean', short: 'v' },
    },
    requestHelp,
    io,
  );
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError('request takes exactly one URL');
  const url = positionals[0]!;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new UsageError(`not an http(s) URL: ${url}`);
  // fetch refuses such a URL, and its message would print the password.
  if (new URL(url).username !== '' || new URL(url).password !== '') throw new UsageError('the URL must not contain a user name or password (give credentials with -H "Authorization: ...")');
  if (values.key === undefined) throw new UsageError('--key FILE is required (create one with: aauth keygen --out FILE)');
  if (values.key.length === 0) throw new UsageError('--key needs a file name (create one with: aauth keygen --out FILE)');
  // A FIFO or a device is refused, not waited on or read without end; loadKeyFile explains a missing file.
  checkLocalFile('--key', values.key, MAX_KEY_FILE_BYTES);
  const key = loadKeyFile(values.key);
  const headers = new Headers();
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new UsageError(`bad header ${JSON.stringify(h)}: expected "Name: value"`);
    try {
      headers.append(h.slice(0, colon).trim(), h.slice(colon + 1).trim());
    } catch {
      throw new UsageError(`bad header ${JSON.stringify(h)}`);
    }
  }
  let body: string | Uint8Array | undefined;
  if (values.data !== undefined) {
    body = values.data.startsWith('@') ? readFlagFile('-d', values.data.slice(1), MAX_BODY_BYTES) : values.data;
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const method = (values.request ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new UsageError(`bad method ${JSON.stringify(method)}`);
  // What fetch refuses, said as the flags that asked for it.
  if (['CONNECT', 'TRACE', 'TRACK'].includes(method)) throw new UsageError(`-X ${method} cannot be sent (fetch forbids it)`);
  if ((method === 'GET' || method === 'HEAD') && body !== undefined) throw new UsageError(`-X ${method} takes no body: drop -d, or use -X POST`);
  const signatureEncoding = oneOf(values['signature-encoding'], ENCODINGS, '--signature-encoding');
  const signatureKeyForm = oneOf(values['signature-key-form'], FORMS, '--signature-key-form');
  let agentToken: string | undefined;
  if (values['agent-token'] !== undefined) {
    agentToken = (values['agent-token'].startsWith('@') ? readFlagFile('--agent-token', values['agent-token'].slice(1), MAX_KEY_FILE_BYTES).toString('utf8') : values['agent-token']).trim();
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(agentToken)) throw new UsageError('--agent-token must be a JWT (an aa-agent+jwt from your agent provider), or @FILE holding one');
  } else if (values.ps !== undefined || values['allow-loopback'] === true) {
    throw new UsageError('--ps and --allow-loopback are AAuth -11 settings: give them with --agent-token');
  }

  const verbose = values.verbose === true;
  /** -11: the person server was asked to involve the person; an interrupt then waits for the agent's withdrawal of that request. */
  let askedPerson = false;
  let seenWithdrawn: (() => void) | undefined;
  const withdrawn = new Promise<void>((resolve) => (seenWithdrawn = resolve));
  const agent = withFlagNames(values, () => createAgent({
    key,
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    trustedAuthServers: values['auth-server'] ?? [],
    fetch: fetchImpl,
    ...(signatureEncoding === undefined ? {} : { signatureEncoding }),
    ...(signatureKeyForm === undefined ? {} : { signatureKeyForm }),
    ...(agentToken === undefined
      ? {}
      : { draft11: { agentToken, ...(values.ps === undefined ? {} : { ps: values.ps }), allowLoopback: values['allow-loopback'] === true } }),
    onEvent: (event: AgentEvent) => {
      if (verbose) io.stderr(`* ${printable(JSON.stringify(event))}\n`);
      if (event.type === 'interaction') askedPerson = true;
      if (event.type === 'withdrawn') seenWithdrawn?.();
    },
    onInteraction: ({ url: interactionUrl }) => {
      io.stderr(`* a user must approve this request: open ${printable(interactionUrl)}\n`);
    },
    // -11 clarifications (the person's, an access server's, a resource's): asked at the terminal.
    ...(io.readLine === undefined
      ? {}
      : {
          onClarification: async ({ question, options, authServer }: Clarification) => {
            io.stderr(`* ${printable(authServer)} asks: ${printable(question)}\n`);
            if (options !== undefined) io.stderr(`*   options: ${options.map((o) => printable(o)).join(' | ')}\n`);
            const answer = await io.readLine!('* your answer (one line, Enter to send): ', stop.signal);
            if (answer === undefined || answer.trim() === '') throw new AAuthError('challenge_unsatisfiable', `${printable(authServer)} asked a question and no answer was given at the terminal`);
            return answer;
          },
        }),
  }));
  const maxTime = values['max-time'];
  // AbortSignal.timeout takes whole milliseconds up to 2^32 - 1 (node's timer limit, about 49 days).
  if (maxTime !== undefined && !(/^\d+(\.\d+)?$/.test(maxTime) && Number(maxTime) >= 0.001 && Number(maxTime) <= MAX_TIME_SECONDS)) {
    throw new UsageError(`--max-time must be a number of seconds from 0.001 to ${MAX_TIME_SECONDS} (got ${JSON.stringify(maxTime)})`);
  }
  if (values['upstream-token'] !== undefined && values['upstream-token'].trim().length === 0) throw new UsageError('--upstream-token needs a token (the auth token this agent was called with)');
  // One signal for --max-time and for an interrupt (Ctrl-C): either ends the call, and the agent
  // withdraws a request it left waiting at a -11 person server (a DELETE of its pending URL).
  const stop = new AbortController();
  if (maxTime !== undefined) {
    const timeout = AbortSignal.timeout(Math.round(Number(maxTime) * 1000));
    timeout.addEventListener('abort', () => stop.abort(timeout.reason), { once: true });
  }
  let interrupted = false;
  const offInterrupt = io.onInterrupt?.(() => {
    interrupted = true;
    stop.abort(new Error('interrupted (Ctrl-C)'));
  });
  const init: RequestInit & { upstreamToken?: string } = { method, headers, signal: stop.signal };
  if (body !== undefined) init.body = body;
  if (values['upstream-token'] !== undefined) init.upstreamToken = values['upstream-token'];
  const out = values.include ? io.stdout : io.stderr;
  let response: Response;
  try {
    response = await agent.fetch(url, init);
  } catch (error) {
    if (interrupted) {
      offInterrupt?.();
      if (agentToken !== undefined && askedPerson) {
        // The DELETE goes out on its own (at most 5 s): wait for it, so the person is told.
        const sent = await Promise.race([withdrawn.then(() => true), new Promise<false>((resolve) => setTimeout(resolve, 6000, false).unref())]);
        io.stderr(`* interrupted: ${sent ? 'the request waiting for the person was withdrawn at the person server' : 'the request waiting for the person could not be withdrawn in time'}\n`);
      } else {
        io.stderr('* interrupted\n');
      }
      return EXIT_INTERRUPTED;
    }
    offInterrupt?.();
    if (isTimeout(error) && maxTime !== undefined) throw new AAuthError('resource_unreachable', `no answer within ${maxTime} s (--max-time)`);
    // A challenge the agent gave up on: show what the resource said (its body names the reason).
    const refusal = error instanceof AAuthChallengeError ? error : undefined;
    if (refusal?.code === 'auth_server_untrusted' && refusal.challenge !== undefined) {
      // The library's advice names its option; here the fix is a flag: the server the challenge
      // named (as the agent read it: the auth-server parameter, else the resource token's aud).
      const named = untrustedServer(refusal.challenge);
      if (named !== undefined) refusal.message = `${refusal.message} (aauth request: --auth-server ${named})`;
    }
    if (refusal !== undefined && (values.include || verbose)) {
      if (verbose) io.stderr(`* the agent gave up on this answer (${refusal.code}):\n`);
      printHead(out, refusal.response);
      // On stdout (-i) the body as sent, like a body; among -v's lines on stderr, escaped.
      if (refusal.body !== undefined) out(`${values.include ? refusal.body : printable(refusal.body)}\n`);
    }
    throw error;
  }
  if (values.include || verbose) printHead(out, response);
  // The body as sent (an image, a gzip, bytes that are not UTF-8), as curl writes it: each piece as
  // it arrives, so a long or endless body is never held whole.
  const decoder = new TextDecoder();
  try {
    if (response.body !== null) {
      for await (const piece of response.body) {
        if (io.stdoutBytes !== undefined) await io.stdoutBytes(piece);
        else io.stdout(decoder.decode(piece, { stream: true }));
      }
    }
    if (io.stdoutBytes === undefined) io.stdout(decoder.decode());
  } catch (error) {
    if (interrupted) {
      io.stderr('* interrupted\n');
      return EXIT_INTERRUPTED;
    }
    // --max-time covers the body too: a server that sends its headers and then stalls.
    if (isTimeout(error) && maxTime !== undefined) throw new AAuthError('resource_unreachable', `the body did not arrive within ${maxTime} s (--max-time)`);
    throw error;
  } finally {
    offInterrupt?.();
  }
  return response.ok ? 0 : 1;
}

/** The exit status of a command the user interrupted (Ctrl-C): 128 + SIGINT, as a shell reports it. */
const EXIT_INTERRUPTED = 130;

/** An AbortSignal.timeout firing (a DOMException named TimeoutError), also as the cause of a fetch error. */
function isTimeout(error: unknown): boolean {
  const e = error as { name?: unknown; cause?: { name?: unknown } } | null;
  return e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError';
}

/** The auth server a challenge names: its `auth-server` parameter, else its resource token's `aud` (section 11); printable only. */
function untrustedServer(challenge: Challenge): string | undefined {
  let named: unknown = challenge.authServer;
  if (named === undefined && challenge.resourceToken !== undefined) {
    try {
      named = decodeToken(challenge.resourceToken).claims.aud;
    } catch {
      return undefined;
    }
  }
  // From the resource: shown as a flag value only when it is a plain URL (no spaces, quotes or control characters).
  return typeof named === 'string' && /^https?:\/\/[\x21-\x7e]+$/.test(named) && !/["'`\\]/.test(named) ? named : undefined;
}

/** The most -d @FILE sends: the agent's limit on a body it buffers for signing and a retry (options.maxBodyBytes). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The bytes of FILE for `flag @FILE`: a regular file of at most `max` bytes, else a usage error naming the flag. */
function readFlagFile(flag: string, file: string, max: number): Buffer {
  if (file.length === 0) throw new UsageError(`${flag} @FILE needs a file name after @`);
  return readLocalFile(flag, file, max, `${flag} @${file}`);
}

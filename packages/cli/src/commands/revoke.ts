import { networkErrorText } from '@aauth-kit/core/internal';
import { parseCommand } from '../lib/parse-command.js';
import { isoSeconds, printable } from '../lib/printable.js';
import { type Io, UsageError } from '../lib/usage-error.js';

export const revokeHelp = `Usage: aauth revoke --auth-server ISSUER --client-id ID [--client-secret S]
                    (--token TOKEN|- | --jti JTI [--iss ISS] | --agent ID [--user USER]) [--json]

Revoke at the embedded auth server's revocation endpoint ({ISSUER}/protocol/aauth/revoke): one
token, every token issued to an agent until now, or one user's grant to an agent (the user withdraws
consent: that pair's tokens are refused and the agent must ask the user again). Resources sharing
the server's revocation store refuse them within its staleness bound.
  --auth-server ISS   the issuer, e.g. http://localhost:8080/realms/aauth-test (https, or http on loopback)
  --client-id ID      a realm client allowed to revoke (the server's revocation.clients)
  --client-secret S   its secret; default the AAUTH_CLIENT_SECRET environment variable
  --token TOKEN       revoke this token ("-" reads it from stdin)
  --jti JTI           revoke the token with this jti (of --iss, default the issuer)
  --agent ID          revoke every token issued to this agent until now
  --user USER         with --agent: withdraw this user's grant (user id or user name)
  --json              print the server's answer as JSON`;

/** How long revoke waits for the auth server's whole answer, body included. */
const REVOKE_TIMEOUT_MS = 15_000;

/** The most of an answer revoke reads (the embedded auth server's is a few hundred bytes). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** What a revocation answer says it revoked. */
const REVOKED = ['token', 'agent', 'grant'];

/** This machine: localhost, [::1] and all of 127.0.0.0/8. */
const isLoopback = (host: string): boolean => host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/** `aauth revoke`: revoke by token, agent or grant at the embedded auth server. */
export async function revoke(args: string[], io: Io, fetchImpl: typeof fetch = fetch, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      'auth-server': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      token: { type: 'string' },
      jti: { type: 'string' },
      iss: { type: 'string' },
      agent: { type: 'string' },
      user: { type: 'string' },
      json: { type: 'boolean' },
    },
    revokeHelp,
    io,
  );
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const issuerText = values['auth-server'];
  if (issuerText === undefined) throw new UsageError('--auth-server ISSUER is required');
  let issuer: URL;
  try {
    issuer = new URL(issuerText);
  } catch {
    throw new UsageError(`--auth-server must be an absolute URL (got ${JSON.stringify(issuerText)})`);
  }
  // Credentials in the URL would be sent in no header a server reads, and echoed in messages.
  if (issuer.username !== '' || issuer.password !== '') throw new UsageError('--auth-server must not contain a user name or password (the client authenticates with --client-id and --client-secret)');
  // The client secret travels in the request: only over https, or to this machine.
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && isLoopback(issuer.hostname))) {
    throw new UsageError('--auth-server must be https (or http on localhost, 127.x.x.x, [::1])');
  }
  const clientId = values['client-id'];
  if (clientId === undefined) throw new UsageError('--client-id is required');
  const secret = values['client-secret'] ?? env.AAUTH_CLIENT_SECRET;
  if (secret === undefined || secret.length === 0) throw new UsageError('--client-secret (or AAUTH_CLIENT_SECRET) is required');
  const what = [values.token, values.jti, values.agent].filter((v) => v !== undefined).length;
  if (what !== 1) throw new UsageError('give exactly one of --token, --jti or --agent (with --user for a grant)');
  if (values.user !== undefined && values.agent === undefined) throw new UsageError('--user needs --agent');
  if (values.iss !== undefined && values.jti === undefined) throw new UsageError('--iss goes with --jti');

  const form = new URLSearchParams();
  if (values.token !== undefined) {
    const token = values.token === '-' ? (await io.readStdin()).trim() : values.token;
    if (token.length === 0) throw new UsageError(values.token === '-' ? '--token -: stdin held no token' : '--token needs a token (or - to read it from stdin)');
    form.set('token', token);
  }
  if (values.jti !== undefined) form.set('jti', values.jti);
  if (values.iss !== undefined) form.set('iss', values.iss);
  if (values.agent !== undefined) form.set('agent', values.agent);
  if (values.user !== undefined) form.set('user', values.user);
  // RFC 6749 section 2.3.1: client_secret_basic, id and secret form-encoded first.
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
  const endpoint = `${issuer.href.replace(/\/+$/, '')}/protocol/aauth/revoke`;
  let response: Response;
  try {
    response = await fetchImpl(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, accept: 'application/json' },
      body: form.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(REVOKE_TIMEOUT_MS),
    });
  } catch (error) {
    io.stderr(`aauth revoke: the auth server could not be reached at ${endpoint}: ${networkErrorText(error)}\n`);
    return 1;
  }
  let text: string;
  try {
    const read = await readBounded(response, MAX_ANSWER_BYTES);
    if (read === undefined) {
      io.stderr(`aauth revoke: ${endpoint} answered ${response.status} with a body of more than ${MAX_ANSWER_BYTES / 1024} KiB, which is no answer of a revocation endpoint: nothing is known to be revoked. Check --auth-server\n`);
      return 1;
    }
    text = read;
  } catch (error) {
    // The 15 s limit covers the answer's body too: headers and then nothing is no answer.
    const timedOut = (error as { name?: unknown } | null)?.name === 'TimeoutError';
    io.stderr(`aauth revoke: ${endpoint} answered ${response.status} but ${timedOut ? `the body did not arrive within ${REVOKE_TIMEOUT_MS / 1000} s` : `its body could not be read: ${networkErrorText(error)}`}\n`);
    return 1;
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  const body: Record<string, unknown> = typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? (answer as Record<string, unknown>) : {};
  if (response.status >= 300 && response.status < 400) {
    // Not followed: a revocation answered elsewhere is not a revocation done here (and the secret stays put).
    const location = response.headers.get('location');
    io.stderr(
      `aauth revoke: ${endpoint} answered ${response.status}, a redirect${location === null ? '' : ` to ${sent(location)}`}: not followed, nothing was revoked. ` +
        'Give --auth-server the issuer exactly as the auth server prints it\n',
    );
    return 1;
  }
  if (response.status !== 200) {
    if (response.status === 404 && typeof body.error !== 'string') {
      // The embedded auth server serves the endpoint only with revocation clients configured.
      io.stderr(
        `aauth revoke: ${endpoint} answered 404: no revocation endpoint there. Check --auth-server (the issuer, ${issuer.href.replace(/\/+$/, '')}), ` +
          'and start the auth server with revocation clients (aauth auth-server --revocation-client ID, or createAuthServer({ revocation: { store, clients } }))\n',
      );
      return 1;
    }
    const error = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
    const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
    io.stderr(`aauth revoke: ${response.status} ${printable(error)}${printable(description)}\n`);
    return 1;
  }
  // A 200 is a revocation only when it says what it revoked: anything else (a proxy's "OK", an
  // empty body, [] or null) is not taken for one.
  if (!(typeof body.revoked === 'string' && REVOKED.includes(body.revoked))) {
    io.stderr(
      `aauth revoke: ${endpoint} answered 200 without a revocation (a JSON object with "revoked": ${REVOKED.join(', ')}); it sent ${text.length === 0 ? 'an empty body' : sent(text)}. ` +
        'Check --auth-server: it must be the embedded auth server\'s issuer\n',
    );
    return 1;
  }
  if (values.json) {
    let json: string;
    try {
      json = JSON.stringify(body);
    } catch {
      // Nested too deep to serialise again: the answer as it came.
      json = text.trim();
    }
    io.stdout(`${printable(json)}\n`);
    return 0;
  }
  // A time no Date can hold is shown as the server gave it.
  const until = isoSeconds(body.until) ?? (body.until === undefined ? 'unknown' : String(body.until));
  const subject =
    body.revoked === 'grant' ? `the grant of user ${String(body.sub)} to agent ${String(body.agent)}` : body.revoked === 'agent' ? `every token of agent ${String(body.agent)}` : `token ${String(body.jti)}`;
  io.stdout(`revoked ${printable(subject)} at ${printable(String(body.iss))} (kept until ${printable(until)})\n`);
  return 0;
}

/** What the server sent, for a message: quoted, cut to 200 characters, control characters escaped. */
function sent(text: string): string {
  return printable(JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text));
}

/** The body as UTF-8 text, read no further than `max` bytes: undefined when it is longer (the rest is not read). */
async function readBounded(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const pieces: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    pieces.push(value);
  }
  return Buffer.concat(pieces).toString('utf8');
}

import { AAuthError, computeThumbprint, decodeToken, tokenKind } from '@aauth-kit/core';
import { showValue } from '@aauth-kit/core/internal';
import { parseCommand } from '../lib/parse-command.js';
import { isoSeconds, printable } from '../lib/printable.js';
import { type Io, UsageError } from '../lib/usage-error.js';

export const decodeHelp = `Usage: aauth decode [--json] TOKEN|-

Decode a JWT (resource token, auth token) without verifying it: header, claims, times as dates,
the cnf.jwk thumbprint, and the token kind recognised from typ. "-" reads the token from stdin.
  --json   print one JSON object instead of text`;

const TIME_CLAIMS = ['iat', 'exp', 'nbf', 'auth_time'];

/** A header or claim value as JSON; one nested too deep for JSON.stringify (thousands of arrays) by its kind. */
function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined';
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return `${showValue(value)}, nested too deep to show`;
  }
}


/** `aauth decode`: show what a token says. */
export async function decode(args: string[], io: Io): Promise<number> {
  const parsed = parseCommand(args, { json: { type: 'boolean' } }, decodeHelp, io);
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError('decode takes exactly one TOKEN (or - for stdin)');
  const raw = positionals[0] === '-' ? (await io.readStdin()).trim() : positionals[0]!.trim();
  let decoded;
  try {
    decoded = decodeToken(raw);
  } catch (error) {
    if (error instanceof AAuthError) throw new UsageError(`not a JWT: ${error.message}`);
    throw error;
  }
  const { header, claims } = decoded;
  const kind = tokenKind(header.typ);
  const cnf = (claims.cnf as { jwk?: unknown } | undefined)?.jwk;
  let cnfThumbprint: string | undefined;
  if (cnf !== undefined) {
    try {
      cnfThumbprint = computeThumbprint(cnf);
    } catch {
      cnfThumbprint = undefined;
    }
  }
  // A Map: a claim named __proto__, constructor or toString is a name like any other.
  const times = new Map<string, string>();
  for (const name of TIME_CLAIMS) {
    const t = Object.hasOwn(claims, name) ? isoSeconds(claims[name]) : undefined;
    if (t) times.set(name, t);
  }
  if (values.json) {
    // JSON.stringify escapes C0 controls; C1 and bidi ones become \uXXXX escapes too (the same JSON).
    let json: string;
    try {
      json = JSON.stringify({ kind: kind ?? 'unknown', header, claims, times: Object.fromEntries(times), cnf_jkt: cnfThumbprint });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new UsageError('the token nests its claims too deep to print as JSON (decode without --json shows them)');
    }
    io.stdout(`${printable(json)}\n`);
    return 0;
  }
  // Names and values come from the token: shown with their control characters escaped.
  const lines = [`kind: ${kind ? `${kind} token (typ ${printable(String(header.typ))})` : `unknown (typ ${printable(JSON.stringify(header.typ) ?? 'undefined')})`}`];
  lines.push('header:');
  for (const [k, v] of Object.entries(header)) lines.push(`  ${printable(k)}: ${printable(shown(v))}`);
  lines.push('claims:');
  for (const [k, v] of Object.entries(claims)) {
    const t = times.get(k);
    lines.push(`  ${printable(k)}: ${printable(shown(v))}${t ? `  (${t})` : ''}`);
  }
  if (cnfThumbprint) lines.push(`cnf.jwk thumbprint: ${cnfThumbprint}`);
  const exp = claims.exp;
  if (typeof exp === 'number') lines.push(exp * 1000 < Date.now() ? 'status: expired' : `status: expires in ${Math.round(exp - Date.now() / 1000)} s`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

import { lstatSync } from 'node:fs';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { fileProblem } from '@aauth-kit/core/internal';
import { parseCommand } from '../lib/parse-command.js';
import { type Io, UsageError } from '../lib/usage-error.js';

export const keygenHelp = `Usage: aauth keygen [--kid KID] [--out FILE] [--force]

Generate an Ed25519 signing key as a JWK.
  --kid KID    key id to publish in /jwks.json (default: the RFC 7638 thumbprint)
  --out FILE   write the private JWK to FILE (mode 0600); without it the private JWK goes to stdout
  --force      overwrite FILE if it exists
Prints the public JWK and its RFC 7638 thumbprint.`;

/** `aauth keygen`: a new Ed25519 key. */
export async function keygen(args: string[], io: Io): Promise<number> {
  const parsed = parseCommand(args, { kid: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } }, keygenHelp, io);
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`keygen takes no positional arguments (got ${JSON.stringify(positionals[0])})`);
  if (values.kid !== undefined && !/^[\x21-\x7e]{1,200}$/.test(values.kid)) throw new UsageError('--kid must be 1-200 printable characters without spaces');
  const key = generateKey(values.kid === undefined ? {} : { kid: values.kid });
  if (values.out !== undefined) {
    const out = values.out;
    if (out.length === 0) throw new UsageError('--out needs a file name');
    // lstat: a symbolic link (even one to nothing yet) is something there, not written through without --force.
    let there: ReturnType<typeof lstatSync> | undefined;
    try {
      there = lstatSync(out);
    } catch {
      there = undefined;
    }
    if (there?.isDirectory()) throw new UsageError(`--out ${out} is a directory: name a file in it (e.g. ${out.replace(/\/+$/, '')}/agent.jwk)`);
    if (there !== undefined && !values.force) throw new UsageError(`${out} exists${there.isSymbolicLink() ? ' (a symbolic link)' : ''}; pass --force to overwrite it`);
    try {
      saveKeyFile(out, key);
    } catch (error) {
      throw new UsageError(`--out ${out}: cannot write it (${fileProblem(error, 'write')})`);
    }
    io.stdout(`wrote private key to ${values.out} (mode 0600)\n`);
  } else {
    io.stdout(`${JSON.stringify(key.toPrivateJwk(), null, 2)}\n`);
  }
  const out = values.out === undefined ? io.stderr : io.stdout;
  out(`public JWK: ${JSON.stringify(key.toPublishedJwk())}\n`);
  out(`thumbprint: ${key.thumbprint}\n`);
  return 0;
}

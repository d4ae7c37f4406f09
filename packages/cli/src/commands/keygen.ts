import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { generateKey } from '@aauth-kit/core';
import { fileProblem } from '@aauth-kit/core/internal';
import { parseCommand } from '../lib/parse-command.js';
import { type Io, UsageError } from '../lib/usage-error.js';

export const keygenHelp = `Usage: aauth keygen [--kid KID] [--out FILE] [--force]

Generate an Ed25519 signing key as a JWK.
  --kid KID    key id to publish in /jwks.json (default: the RFC 7638 thumbprint)
  --out FILE   write the private JWK to FILE (mode 0600; a regular file only); without it, or with
               --out -, the private JWK goes to stdout
  --force      replace FILE if it exists (a symbolic link is replaced itself, not written through)
Prints the public JWK and its RFC 7638 thumbprint.`;

/** `aauth keygen`: a new Ed25519 key. */
export async function keygen(args: string[], io: Io): Promise<number> {
  const parsed = parseCommand(args, { kid: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } }, keygenHelp, io);
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`keygen takes no positional arguments (got ${JSON.stringify(positionals[0])})`);
  if (values.kid !== undefined && !/^[\x21-\x7e]{1,200}$/.test(values.kid)) throw new UsageError('--kid must be 1-200 printable characters without spaces');
  const key = generateKey(values.kid === undefined ? {} : { kid: values.kid });
  // --out - is stdout, as without --out (never a file named "-").
  const file = values.out === '-' ? undefined : values.out;
  if (file !== undefined) {
    const out = file;
    if (out.length === 0) throw new UsageError('--out needs a file name');
    // lstat: a symbolic link (even one to nothing yet) is something there, not written through.
    let there: ReturnType<typeof lstatSync> | undefined;
    try {
      there = lstatSync(out);
    } catch {
      there = undefined;
    }
    if (there?.isDirectory()) throw new UsageError(`--out ${out} is a directory: name a file in it (e.g. ${out.replace(/\/+$/, '')}/agent.jwk)`);
    // A FIFO would hang the write, a device (a copy of /dev/null) would be chmodded: never, even with --force.
    if (there !== undefined && !there.isFile() && !there.isSymbolicLink()) {
      throw new UsageError(`--out ${out} is ${there.isFIFO() ? 'a FIFO (named pipe)' : there.isSocket() ? 'a socket' : 'a device'}, not a regular file: keygen writes only regular files, even with --force (give --out - for stdout)`);
    }
    if (there !== undefined && !values.force) throw new UsageError(`${out} exists${there.isSymbolicLink() ? ' (a symbolic link)' : ''}; pass --force to overwrite it`);
    try {
      writeKeyFile(out, `${JSON.stringify(key.toPrivateJwk(), null, 2)}\n`);
    } catch (error) {
      throw new UsageError(`--out ${out}: cannot write it (${fileProblem(error, 'write')})`);
    }
    // The link itself was replaced by the new file; what it pointed to is untouched.
    const replaced = there?.isSymbolicLink() ? ', replacing the symbolic link itself, not the file it pointed to' : '';
    io.stdout(`wrote private key to ${out} (mode 0600${replaced})\n`);
  } else {
    io.stdout(`${JSON.stringify(key.toPrivateJwk(), null, 2)}\n`);
  }
  const out = file === undefined ? io.stderr : io.stdout;
  out(`public JWK: ${JSON.stringify(key.toPublishedJwk())}\n`);
  out(`thumbprint: ${key.thumbprint}\n`);
  return 0;
}

/**
 * Write `text` to a new file next to `path` (created exclusively, mode 0600, so nothing that was
 * there is opened, followed or chmodded) and rename it over `path`: an existing regular file or a
 * symbolic link is replaced as a whole; a reader never sees half a key.
 */
function writeKeyFile(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

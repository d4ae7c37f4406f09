import { AAuthError } from '@aauth-kit/core';
import { audit, auditHelp } from './commands/audit.js';
import { authServer, authServerHelp } from './commands/auth-server.js';
import { decode, decodeHelp } from './commands/decode.js';
import { keygen, keygenHelp } from './commands/keygen.js';
import { request, requestHelp } from './commands/request.js';
import { revoke, revokeHelp } from './commands/revoke.js';
import { printable } from './lib/printable.js';
import { ArgumentError, type Io, UsageError } from './lib/usage-error.js';

/** The package's version (package.json's, checked by a test). */
export const VERSION = '0.1.0';

const COMMANDS: Record<string, { run: (args: string[], io: Io) => Promise<number>; help: string }> = {
  keygen: { run: keygen, help: keygenHelp },
  decode: { run: decode, help: decodeHelp },
  request: { run: (args, io) => request(args, io), help: requestHelp },
  'auth-server': { run: authServer, help: authServerHelp },
  audit: { run: (args, io) => audit(args, io), help: auditHelp },
  revoke: { run: (args, io) => revoke(args, io), help: revokeHelp },
};

export const mainHelp = `Usage: aauth <command> [options]

Commands:
  keygen        generate an Ed25519 signing key (JWK)
  decode        show a token's header and claims
  request       send a signed request, answering AAuth challenges
  auth-server   run the embedded, Keycloak-compatible auth server
  audit         what did agent X do for user Y: filter the auth server's audit log
  revoke        revoke a token, an agent or a user's grant at the embedded auth server

Run "aauth <command> --help" for a command's options; "aauth --version" prints the version.`;

const defaultIo: Io = {
  stdout: (t) => process.stdout.write(t),
  // Settles once the piece is handed to the OS: a body is not read faster than stdout takes it.
  // A failed write is marked as stdout's (bin.ts ends quietly on EPIPE, with one line otherwise).
  stdoutBytes: (b) =>
    new Promise<void>((resolve, reject) => void process.stdout.write(b, (error) => (error ? reject(Object.assign(error, { stdoutWrite: true })) : resolve()))),
  stderr: (t) => process.stderr.write(t),
  // The first Ctrl-C is the command's (a request withdraws what it left waiting); a second one ends it at once.
  onInterrupt: (handler) => {
    process.once('SIGINT', handler);
    return () => void process.off('SIGINT', handler);
  },
  readStdin: async () => {
    // A token or a secret, never more than this: a larger input is refused while it is read.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      size += (chunk as Buffer).length;
      if (size > MAX_STDIN) {
        process.stdin.destroy();
        throw new UsageError(`stdin is larger than ${MAX_STDIN / 1024} KiB: give one token (or secret)`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  },
  // Only at a terminal: piped input is a body or a token, never an answer.
  readLine: process.stdin.isTTY === true ? readTerminalLine : undefined,
};

/** One line typed at the terminal after `prompt` (on stderr); undefined when `signal` stops it or input ends. */
async function readTerminalLine(prompt: string, signal?: AbortSignal): Promise<string | undefined> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await rl.question(prompt, signal === undefined ? {} : { signal });
  } catch {
    return undefined; // stopped (Ctrl-C, --max-time) or stdin closed
  } finally {
    rl.close();
  }
}

/** The most stdin a command reads (a token is at most 16 KiB in the kit; a JWT of 1 MiB is no token). */
const MAX_STDIN = 1024 * 1024;

/** Run the `aauth` command line; resolves to the exit code (2 for bad arguments). */
export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.stdout(`aauth ${VERSION}\n`);
    return 0;
  }
  // `aauth help keygen` as `aauth keygen --help`.
  if (name === 'help' && rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0])) {
    io.stdout(`${COMMANDS[rest[0]]!.help}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(`${mainHelp}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`aauth: unknown command ${JSON.stringify(name)} (try "aauth --help")\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    // A DOMException's code is a number (a TimeoutError's is 23): only a string code is node's.
    const code = (error as { code?: unknown } | null)?.code;
    if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      const where = error instanceof ArgumentError ? ` (aauth ${name} --help lists the options)` : '';
      io.stderr(`aauth ${name}: ${printable((error as Error).message.split('\n')[0]!)}${where}\n`);
      return 2;
    }
    if (error instanceof AAuthError) {
      // A message may quote a peer (a refusal's body, an auth server's error_description): escaped.
      io.stderr(`aauth ${name}: ${error.code}: ${printable(error.message)}\n`);
      return 1;
    }
    throw error;
  }
}

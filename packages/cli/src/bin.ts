#!/usr/bin/env node
import { printable } from './lib/printable.js';
import { run } from './run.js';

/** The exit status when stdout's reader went away (EPIPE): 128 + SIGPIPE, as a shell reports a command a closed pipe ended. */
const EXIT_BROKEN_PIPE = 141;

/**
 * A failed write to stdout ends the command: a reader that went away (`aauth request ... | head`)
 * quietly with 141; any other error (a full disk, /dev/full) with one line and exit 1.
 */
function endOnStdoutError(error: unknown): never {
  if ((error as { code?: unknown } | null)?.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
  process.stderr.write(`aauth: cannot write to stdout: ${printable(String((error as Error | null)?.message ?? error))}\n`);
  process.exit(1);
}
process.stdout.on('error', endOnStdoutError);

let settled = false;
// A command whose last await never settles (node's fetch to a server that closes the connection
// without an answer leaves its promise pending) ends when the event loop empties: that is a failure,
// said as one, never a silent exit 0 (a script would take a revocation for done).
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('aauth: the command ended without an answer: the server closed the connection before it answered (or nothing was left to wait for)\n');
  process.exitCode = 1;
});
run(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    settled = true;
    // A body being written when stdout failed: the same ending as for any write to stdout.
    if ((error as { stdoutWrite?: unknown } | null)?.stdoutWrite === true) endOnStdoutError(error);
    process.stderr.write(`aauth: ${printable(String((error as Error | null)?.message ?? error))}\n`);
    process.exitCode = 1;
  },
);

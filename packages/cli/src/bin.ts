#!/usr/bin/env node
import { printable } from './lib/printable.js';
import { run } from './run.js';

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
    process.stderr.write(`aauth: ${printable(String((error as Error | null)?.message ?? error))}\n`);
    process.exitCode = 1;
  },
);

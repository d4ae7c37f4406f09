#!/usr/bin/env node
// `npm run demo`: the whole supply-chain flow on this machine, with a live trace of every hop
// (the command line itself is runCli in cli.ts; `--help` lists the flags).
import { runCli } from './cli.js';

runCli(process.argv.slice(2), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

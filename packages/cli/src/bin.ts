#!/usr/bin/env node
import { run } from './run.js';

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`aauth: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
// The `aauth` command. This file is in the repository (dist/ is not), so `npm ci` links
// node_modules/.bin/aauth to it before anything is built; a bin whose file is missing at install
// is not linked, and `npx aauth` then went to the npm registry for a package of that name.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (existsSync(entry)) await import(entry.href);
else {
  process.stderr.write('aauth: @aauth-kit/cli is not built yet: run `npm run build` at the root of the repository\n');
  process.exitCode = 1;
}

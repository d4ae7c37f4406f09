#!/usr/bin/env node
// The `aauth-auth-server` command. This file is in the repository (dist/ is not), so `npm ci` links
// node_modules/.bin/aauth-auth-server to it before anything is built; a bin whose file is missing at install
// is not linked, and `npx aauth-auth-server` then went to the npm registry for a package of that name.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (existsSync(entry)) await import(entry.href);
else {
  process.stderr.write('aauth-auth-server: @aauth-kit/auth-server is not built yet: run `npm run build` at the root of the repository\n');
  process.exitCode = 1;
}

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests run against the TypeScript sources (aliased below), never against compiled files in dist/.
export default defineConfig({
  resolve: {
    alias: {
      '@aauth-kit/core': pkg('core'),
      '@aauth-kit/verifier': pkg('verifier'),
      '@aauth-kit/express': pkg('express'),
      '@aauth-kit/agent': pkg('agent'),
      '@aauth-kit/auth-server': pkg('auth-server'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    globalSetup: ['test/setup/global-setup.ts'],
  },
});

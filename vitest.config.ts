import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string, entry = 'index') => fileURLToPath(new URL(`./packages/${name}/src/${entry}.ts`, import.meta.url));

// Tests run against the TypeScript sources (aliased below), never against compiled files in dist/.
export default defineConfig({
  resolve: {
    // A subpath first: the first alias whose name prefixes the import wins.
    alias: {
      '@aauth-kit/core/internal': pkg('core', 'internal'),
      '@aauth-kit/core': pkg('core'),
      '@aauth-kit/discovery': pkg('discovery'),
      '@aauth-kit/verifier': pkg('verifier'),
      '@aauth-kit/express': pkg('express'),
      '@aauth-kit/agent': pkg('agent'),
      '@aauth-kit/auth-server/cli': pkg('auth-server', 'run-cli'),
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

import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:interop`: the kit against real peers (Keycloak, PyPI AAuth libraries) that
// interop/setup.sh installed into .interop-cache/. Kept out of `npm test`, which needs none of it.
export default mergeConfig(
  { resolve: base.resolve },
  defineConfig({
    test: {
      include: ['interop/**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**', '.interop-cache/**'],
      testTimeout: 60_000,
      hookTimeout: 240_000,
      globalSetup: ['interop/keycloak/global-setup.ts'],
    },
  }),
);

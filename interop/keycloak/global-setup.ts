import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../test/fixtures/http.js';
import { startPeer } from '../fixtures/peer-process.js';
import { keycloakHome, keycloakJavaHome, repoRoot } from '../fixtures/paths.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>` of the Keycloak this setup started ('' when skipped). */
    keycloakUrl: string;
    /** The file Keycloak's console output goes to (the import's warnings are read from it). */
    keycloakLog: string;
  }
}

/** The realm files the repository ships; each is imported at start. */
export const REALM_FILES = ['aauth-test-realm.json'];

/**
 * Start one real Keycloak (keycloak-quarkus-dist from Maven Central, unpacked by interop/setup.sh)
 * for the whole interop run: `start-dev --import-realm` on free loopback ports, a fresh H2 store
 * each run, the repository's realm files imported. Stopped by its PID at the end.
 * INTEROP_SKIP_KEYCLOAK=1 skips it (for working on the other peers alone).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.INTEROP_SKIP_KEYCLOAK === '1') {
    project.provide('keycloakUrl', '');
    project.provide('keycloakLog', '');
    return async () => {};
  }
  if (!existsSync(join(keycloakHome, 'bin', 'kc.sh'))) {
    throw new Error(`${keycloakHome} is missing: run bash interop/setup.sh (npm run test:interop does)`);
  }
  // A private copy of the distribution each run (0.3 s): a fresh H2 store, an import folder that
  // holds exactly the repository's realm files, and parallel runs that cannot disturb each other.
  const home = mkdtempSync(join(tmpdir(), 'aauth-keycloak-'));
  cpSync(keycloakHome, home, { recursive: true });
  const data = join(home, 'data');
  rmSync(join(data, 'h2'), { recursive: true, force: true });
  rmSync(join(data, 'import'), { recursive: true, force: true });
  mkdirSync(join(data, 'import'), { recursive: true });
  for (const f of REALM_FILES) cpSync(join(repoRoot, 'keycloak-realm', f), join(data, 'import', f));
  const kcSh = join(home, 'bin', 'kc.sh');

  const port = await freePort();
  const managementPort = await freePort();
  let keycloak;
  try {
    keycloak = await startPeer({
      name: 'keycloak',
      command: kcSh,
      args: [
        'start-dev',
        '--import-realm',
        '--http-host=127.0.0.1',
        `--http-port=${port}`,
        `--http-management-port=${managementPort}`,
        '--health-enabled=true',
        '--hostname-strict=false',
      ],
      env: {
        ...(keycloakJavaHome ? { JAVA_HOME: keycloakJavaHome } : {}),
        KC_BOOTSTRAP_ADMIN_USERNAME: 'admin',
        KC_BOOTSTRAP_ADMIN_PASSWORD: 'admin',
        // The management interface would listen on all interfaces otherwise.
        KC_HTTP_MANAGEMENT_HOST: '127.0.0.1',
      },
      readyUrl: `http://127.0.0.1:${port}/realms/aauth-test/.well-known/openid-configuration`,
      readyStatus: (s) => s === 200,
      timeoutMs: 360_000, // first start augments Quarkus (80 s seen on a loaded 2-core machine)
    });
  } catch (err) {
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  const started = keycloak;
  project.provide('keycloakUrl', `http://127.0.0.1:${port}`);
  project.provide('keycloakLog', started.logFile);
  return async () => {
    await started.stop(10_000);
    rmSync(home, { recursive: true, force: true });
  };
}

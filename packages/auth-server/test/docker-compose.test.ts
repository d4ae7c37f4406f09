import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// Debian's docker-compose validates a file without a Docker engine (.ci/run installs it).
function compose(args: string[], cwd = ROOT) {
  return spawnSync('docker-compose', args, { cwd, encoding: 'utf8', timeout: 30_000 });
}

describe('docker-compose.yml', () => {
  it('is valid: docker-compose config -q exits 0', () => {
    const result = compose(['-f', 'docker-compose.yml', 'config', '-q']);
    expect(result.error, 'docker-compose must be installed (apt-get install docker-compose)').toBeUndefined();
    expect(result.status, result.stderr).toBe(0);
  });

  it('runs Keycloak built with the extension, imports the realm, and runs the demo against it', () => {
    const services = compose(['-f', 'docker-compose.yml', 'config', '--services']);
    expect(services.status).toBe(0);
    expect(services.stdout.trim().split('\n').sort()).toEqual(['demo', 'jaeger', 'keycloak']);
    const config = compose(['-f', 'docker-compose.yml', 'config']).stdout;
    expect(config).toContain('start-dev');
    expect(config).toContain('--import-realm');
    expect(config).toMatch(/aauth-test-realm\.json:\/opt\/keycloak\/data\/import\/aauth-test-realm\.json:ro/);
    expect(config).toMatch(/published: 8080|127\.0\.0\.1:8080:8080/);
    expect(config).toContain('npm run demo:services');
    expect(config).toContain('AAUTH_ISSUER: http://localhost:8080/realms/aauth-test');
    // Issue 19: Jaeger all-in-one in the same namespace, its UI and OTLP/HTTP on loopback only.
    expect(config).toMatch(/image: jaegertracing\/all-in-one:\d+\.\d+\.\d+/);
    expect(config).toContain('OTEL_EXPORTER_OTLP_ENDPOINT: http://localhost:4318');
    expect(config).toMatch(/published: "?16686"?|127\.0\.0\.1:16686:16686/);
    expect(config).toMatch(/published: "?4318"?|127\.0\.0\.1:4318:4318/);
    expect(config).not.toMatch(/0\.0\.0\.0:(16686|4318)/);

    const dockerfile = readFileSync(join(ROOT, 'docker/keycloak/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM quay\.io\/keycloak\/keycloak:\$\{KEYCLOAK_VERSION\}$/m);
    expect(dockerfile).toMatch(/^ARG KEYCLOAK_VERSION=26\.2\.\d+$/m);
    expect(dockerfile).toContain(
      'https://github.com/christian-posta/keycloak-aauth-extension/releases/download/v1.0.2/keycloak-aauth-extension-1.0.0.jar',
    );
    expect(dockerfile).toContain('/opt/keycloak/providers/');
  });

  it('the same check fails on a broken file (the test can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aauth-compose-'));
    try {
      writeFileSync(join(dir, 'docker-compose.yml'), 'services:\n  keycloak:\n    image: [unclosed\n');
      const result = compose(['-f', 'docker-compose.yml', 'config', '-q'], dir);
      expect(result.status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

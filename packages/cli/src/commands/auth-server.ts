import { runCli } from '@aauth-kit/auth-server/cli';
import { type Io, UsageError } from '../lib/usage-error.js';

export const authServerHelp = `Usage: aauth auth-server --realm FILE --port N [--host 127.0.0.1] [--base-url URL] [--key-file FILE] [--alg RS256|EdDSA|ES256]
                         [--person-server] [--access-server] [--allow-loopback] [--person-key-file FILE] [--access-key-file FILE]

Run the embedded, Keycloak-compatible AAuth auth server for a Keycloak realm export until interrupted.
  --realm FILE     Keycloak realm export (e.g. keycloak-realm/aauth-test-realm.json)
  --port N         TCP port (default 8080)
  --host H         address to bind (default 127.0.0.1)
  --base-url URL   public origin (default http://localhost:<port>); the issuer is <base-url>/realms/<realm>
  --key-file FILE  keep the realm signing key in FILE across restarts (default: ephemeral, with a warning)
  --alg ALG        auth token algorithm (default RS256, as Keycloak)
  --person-server  also serve the AAuth -11 person server at the origin of --base-url (its identifier:
                   https://HOST, no port; the command stops, saying why, when it cannot be served)
  --access-server  also serve the AAuth -11 access server at the same origin (the realm must set
                   aauth.access.enabled "true"; the command stops, saying why, when it cannot be served)
  --allow-loopback with a -11 role: accept http and a port on a loopback host in -11 identifiers (development)
  --person-key-file FILE
                   with --person-server: its Ed25519 key, created if absent (default: ephemeral, with a warning)
  --access-key-file FILE
                   with --access-server: its own Ed25519 key, created if absent (default: ephemeral, with a warning)
Prints the URL clients use (the issuer's origin), the address it is bound to and the issuer, then one
JSON line per audit event. Configure resources and agents with the issuer exactly as printed: issuers
are compared byte for byte, so http://127.0.0.1:8080/... is not http://localhost:8080/...`;

/** `aauth auth-server`: the embedded auth server (the same program as `aauth-auth-server`). */
export async function authServer(args: string[], io: Io): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(`${authServerHelp}\n`);
    return 0;
  }
  let running;
  try {
    running = await runCli(args, { out: (line) => io.stdout(`${line}\n`), err: (line) => io.stderr(`${line}\n`) });
  } catch (error) {
    // runCli reports bad arguments and a bad realm file as TypeErrors (one line each).
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}

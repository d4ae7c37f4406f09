import { parseArgs } from 'node:util';
import { createAuthServer } from '@aauth-kit/auth-server';
import { type Io, UsageError } from '../lib/usage-error.js';

export const authServerHelp = `Usage: aauth auth-server --realm FILE --port N [--host 127.0.0.1] [--base-url URL] [--key-file FILE]

Run the embedded, Keycloak-compatible AAuth auth server for a Keycloak realm export.
  --realm FILE     Keycloak realm export (e.g. keycloak-realm/aauth-test-realm.json)
  --port N         TCP port (0 picks a free one)
  --host H         address to bind (default 127.0.0.1)
  --base-url URL   public origin (default http://localhost:<port>); the issuer is <base-url>/realms/<realm>
  --key-file FILE  keep the realm signing key in FILE across restarts (default: ephemeral, with a warning)`;

/** `aauth auth-server`: the embedded auth server until interrupted. */
export async function authServer(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      realm: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'base-url': { type: 'string' },
      'key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    io.stdout(`${authServerHelp}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`auth-server takes no positional arguments (got ${JSON.stringify(positionals[0])})`);
  if (values.realm === undefined) throw new UsageError('--realm FILE is required');
  if (values.port === undefined || !/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
    throw new UsageError('--port must be a number from 0 to 65535');
  }
  const host = values.host ?? '127.0.0.1';
  let port = Number(values.port);
  const baseUrl = values['base-url'];
  const start = async (base: string) => {
    try {
      return createAuthServer({
        realm: values.realm!,
        baseUrl: base,
        ...(values['key-file'] === undefined ? {} : { keyFile: values['key-file'] }),
        onWarning: (message: string) => io.stderr(`warning: ${message}\n`),
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  const server = await start(baseUrl ?? `http://localhost:${port}`);
  const listening = await server.listen(port, host);
  port = Number(new URL(listening.url).port);
  io.stdout(`auth server for ${server.issuer} listening on ${listening.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await listening.close();
  return 0;
}

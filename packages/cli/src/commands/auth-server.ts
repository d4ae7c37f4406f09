import { isArgumentProblem, listenForHangup, runCli, USAGE } from '@aauth-kit/auth-server/cli';
import { printable } from '../lib/printable.js';
import { ArgumentError, type Io, UsageError } from '../lib/usage-error.js';

/**
 * The usage of `aauth-auth-server` (the same program), named as this command: one text, so every
 * flag of the auth server (tenants, Redis, audit, revocation, the -11 roles) is documented here too.
 */
export const authServerHelp = `${USAGE.replaceAll('aauth-auth-server', 'aauth auth-server')}

Prints the URL clients use (the issuer's origin), the address it is bound to and the issuer, then one
JSON line per audit event; runs until interrupted (SIGINT, SIGTERM; with tenants SIGHUP reloads the
realm files). Configure resources and agents with the issuer exactly as printed: issuers are compared
byte for byte, so http://127.0.0.1:8080/... is not http://localhost:8080/...`;

/** `aauth auth-server`: the embedded auth server (the same program as `aauth-auth-server`). */
export async function authServer(args: string[], io: Io): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(`${authServerHelp}\n`);
    return 0;
  }
  // Before the server starts: a SIGHUP while it starts is not lost (see listenForHangup).
  const hangup = listenForHangup();
  let running: Awaited<ReturnType<typeof runCli>>;
  try {
    // Audit lines and warnings carry what clients sent (a grant_type, a client id): control
    // characters escaped (JSON.stringify leaves C1 and bidi ones; \uXXXX keeps a JSON line JSON).
    running = await runCli(args, { out: (line) => io.stdout(`${printable(line)}\n`), err: (line) => io.stderr(`${printable(line)}\n`) });
  } catch (error) {
    hangup.stop();
    // runCli reports bad arguments and a bad realm file as TypeErrors (one line each).
    if (error instanceof TypeError) {
      // An option the command does not know gets where the options are listed; a bad value or realm file, its reason alone.
      throw isArgumentProblem(error) ? new ArgumentError(error.message) : new UsageError(error.message);
    }
    throw error;
  }
  // Tenants: SIGHUP reads the realm files again (the outcome is printed; the server keeps serving).
  hangup.started(running);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  hangup.stop();
  await running.close();
  return 0;
}

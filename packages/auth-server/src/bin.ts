#!/usr/bin/env node
import { helpRequested, isArgumentProblem, listenForHangup, runCli, USAGE } from './run-cli.js';

if (helpRequested(process.argv.slice(2))) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
// Before the server starts: a SIGHUP while it starts is not lost (see listenForHangup).
const hangup = listenForHangup();
try {
  const running = await runCli(process.argv.slice(2));
  const stop = (): void => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Tenants (issue 17): SIGHUP reads the realm files again; the outcome is printed, the server keeps serving.
  hangup.started(running);
} catch (error) {
  process.stderr.write(`aauth-auth-server: ${(error as Error).message}\n`);
  // One line and where the options are (the usage text is 60 lines; the reason would scroll away).
  if (isArgumentProblem(error)) process.stderr.write('aauth-auth-server --help lists the options\n');
  process.exit(2);
}

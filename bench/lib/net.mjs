// Loopback servers for the figures: listen on 127.0.0.1 on a free port, close with every connection.
// (bench/figures/exchange-server.mjs keeps its own one-line listen: it is copied alone into the old
// code path's tree for figure 6, where this file does not exist.)
import { createServer } from 'node:http';

/** Serve `app` on 127.0.0.1, a free port: resolves to `{ server, port }`. */
export function listen(app) {
  return new Promise((resolve) => {
    const server = createServer(app);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

/** Close `server` and every connection it still holds. */
export const close = (server) =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

import { createServer } from 'node:http';
import express, { type Router } from 'express';

/** A listening server: the URL clients use on this host, and how to stop it. */
export interface Listening {
  url: string;
  close(): Promise<void>;
}

/**
 * Serve `router()` on `host` (default 127.0.0.1) and `port`; without a port, the base URL's port
 * (or 443/80 by scheme). Resolves once listening; `close()` also ends kept-alive connections.
 */
export async function listenRouter(router: () => Router, base: URL, port: number | undefined, host = '127.0.0.1'): Promise<Listening> {
  const app = express();
  app.disable('x-powered-by');
  app.use(router());
  const server = createServer(app);
  const listenPort = port ?? (base.port === '' ? (base.protocol === 'https:' ? 443 : 80) : Number(base.port));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : listenPort;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

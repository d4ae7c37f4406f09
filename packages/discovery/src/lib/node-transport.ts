import { Agent, request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { stripBrackets } from '../is-private-address.js';
import type { ResponseHeaders } from '../types.js';

/** The `user-agent` discovery sends unless the request names its own. */
export const USER_AGENT = 'aauth-kit-discovery';

/** A request as the transport sends it. */
export interface TransportRequest {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array | undefined;
}

/** An answer whose body is still to be read (or dropped). */
export interface TransportAnswer {
  status: number;
  headers: ResponseHeaders;
  /** Read the body whole; past `max` bytes, stop reading and reject with `onTooLarge()`. */
  read(max: number, onTooLarge: () => Error): Promise<Uint8Array>;
  /** Drop the body unread. */
  discard(): Promise<void>;
}

/** Sends one request (no redirects followed), within `signal`, connecting to `addresses` when given. */
export type Transport = (url: URL, request: TransportRequest, signal: AbortSignal, addresses: readonly string[] | undefined) => Promise<TransportAnswer>;

/** Sockets of one transport: its keep-alive pool, or none (a socket per request). */
export interface NodeTransportOptions {
  /** Keep idle sockets for the next request to the same origin; default false. */
  keepAlive?: boolean | undefined;
  /** Sockets open at once to one origin (more wait in the pool); default 10. */
  maxSockets?: number | undefined;
}

/** How long an idle pooled socket is kept (the server's `Keep-Alive: timeout` may shorten it). */
const IDLE_MS = 5000;

type HttpModule = Pick<typeof import('node:http'), 'request' | 'Agent'>;
// node:https (and with it node:tls) loads on the first https URL: a resource that discovers keys
// over loopback http, and every node:http server, already has all the rest loaded.
let https: Promise<HttpModule> | undefined;
const httpModule: HttpModule = { request, Agent };

/**
 * Discovery's transport over node:http and node:https, used when no `fetch` is given: node's fetch
 * (undici) costs tens of ms of CPU to load, on the first verify of a resource that only discovers
 * keys. No redirects are followed (the caller decides), no `accept-encoding` is sent (the body is
 * read as sent), `user-agent` is `aauth-kit-discovery`, and the connection goes to `addresses`
 * (the ones the egress policy checked) when given, never to a second resolution of the name.
 */
export function createNodeTransport(options: NodeTransportOptions = {}): Transport {
  const keepAlive = options.keepAlive ?? false;
  const maxSockets = options.maxSockets ?? 10;
  // One pool per transport, so a socket is only reused by the policy that let it be opened.
  const agents = new Map<HttpModule, Agent>();
  const agentOf = (mod: HttpModule): Agent | false => {
    if (!keepAlive) return false;
    let agent = agents.get(mod);
    if (agent === undefined) {
      agent = new mod.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: IDLE_MS, scheduling: 'lifo' });
      agents.set(mod, agent);
    }
    return agent;
  };

  return async (url, req, signal, addresses) => {
    const mod = url.protocol === 'https:' ? await (https ??= import('node:https')) : httpModule;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(req.body.byteLength);
    const options: RequestOptions = {
      hostname: stripBrackets(url.hostname),
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: `${url.pathname}${url.search}`,
      method: req.method,
      headers,
      agent: agentOf(mod),
      signal,
      ...(addresses === undefined ? {} : { lookup: pinnedLookup(addresses) }),
    };
    const attempt = (again: boolean): Promise<TransportAnswer> =>
      new Promise<TransportAnswer>((resolve, reject) => {
        const outgoing = mod.request(options);
        const onError = (error: NodeJS.ErrnoException): void => {
          // A kept-alive socket the server closed just as it was reused: once more (the pool has
          // dropped that socket), for a request without a body only, and only once.
          if (again && outgoing.reusedSocket && req.body === undefined && error.code === 'ECONNRESET' && !signal.aborted) resolve(attempt(false));
          else reject(error);
        };
        outgoing.once('error', onError);
        outgoing.once('response', (res) => {
          outgoing.off('error', onError);
          resolve(answerOf(outgoing, res));
        });
        outgoing.end(req.body);
      });
    return attempt(true);
  };
}

/** The answer `res` to `outgoing`; errors before the body is read are kept for `read`. */
function answerOf(outgoing: ClientRequest, res: IncomingMessage): TransportAnswer {
  let failure: Error | undefined;
  let onFailure: ((error: Error) => void) | undefined;
  const fail = (error: Error): void => {
    if (failure !== undefined) return;
    failure = error;
    onFailure?.(error);
  };
  outgoing.on('error', fail);
  res.on('error', fail);
  res.once('close', () => {
    if (!res.complete) fail(new Error('the connection closed before the answer was complete'));
  });
  const drop = (): void => {
    res.destroy();
    outgoing.destroy();
  };
  return {
    status: res.statusCode ?? 0,
    headers: headersOf(res),
    discard: async () => drop(),
    read: (max, onTooLarge) =>
      new Promise<Uint8Array>((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        onFailure = reject;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > max) {
            // Past the limit: stop reading and close the socket, whatever is still coming.
            fail(onTooLarge());
            drop();
            return;
          }
          chunks.push(chunk);
        });
        res.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
      }),
  };
}

/** Node's headers read like a fetch `Headers`: any case, repeated fields joined with `, `. */
function headersOf(res: IncomingMessage): ResponseHeaders {
  const distinct = res.headersDistinct;
  return {
    get: (name) => distinct[name.toLowerCase()]?.join(', ') ?? null,
  };
}

/**
 * A `lookup` for net.connect that answers `addresses` (the ones the egress policy resolved and
 * checked) instead of resolving the name again, so a name cannot point elsewhere between the check
 * and the connection (DNS rebinding). The name still serves TLS (SNI, certificate) and `Host`.
 */
export function pinnedLookup(addresses: readonly string[]): LookupFunction {
  const all: LookupAddress[] = [];
  for (const a of addresses) {
    const address = stripBrackets(a);
    const family = isIP(address);
    if (family !== 0) all.push({ address, family });
  }
  return (hostname: string, options: LookupOptions, callback) => {
    const want = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    const list = want === 0 ? all : all.filter((a) => a.family === want);
    process.nextTick(() => {
      if (list.length === 0) {
        const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}: no checked ${want === 0 ? '' : `IPv${want} `}address`);
        error.code = 'ENOTFOUND';
        callback(error, '', 0);
      } else if (options.all === true) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

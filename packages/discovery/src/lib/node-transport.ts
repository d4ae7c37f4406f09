import { Agent, request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { createRequire } from 'node:module';
import { isLocalhostName } from '@aauth-kit/core/internal';
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
  /** Where `localhost` names go, tried in turn while one cannot be connected to; default 127.0.0.1, then ::1. */
  loopback?: readonly string[] | undefined;
}

/** How long an idle pooled socket is kept (the server's `Keep-Alive: timeout` may shorten it). */
const IDLE_MS = 5000;

type HttpModule = Pick<typeof import('node:http'), 'request' | 'Agent'>;
// node:https (and with it node:tls) loads on the first https URL: a resource that discovers keys
// over loopback http, and every node:http server, already has all the rest loaded. Loaded with
// require(), not import(): the bundle runs as a script (scripts/bundle.mjs), where import() is not
// available.
let https: HttpModule | undefined;
const httpModule: HttpModule = { request, Agent };

/**
 * Discovery's transport over node:http and node:https, used when no `fetch` is given: node's fetch
 * (undici) costs tens of ms of CPU to load, on the first verify of a resource that only discovers
 * keys. No redirects are followed (the caller decides), no `accept-encoding` is sent (the body is
 * read as sent), `user-agent` is `aauth-kit-discovery`, and the connection goes to `addresses`
 * (the ones the egress policy checked) when given, never to a second resolution of the name.
 * `localhost` and the names under it are resolved by nothing: they are loopback (RFC 6761
 * section 6.3), sent to 127.0.0.1, then to ::1 if 127.0.0.1 cannot be connected to. A hosts file
 * or resolver cannot point them elsewhere, and a resource's first verify of a local agent does not
 * pay node's test of the name as an IPv6 address (a pattern compiled on first use, ~4 ms; issue 18).
 */
export function createNodeTransport(options: NodeTransportOptions = {}): Transport {
  const keepAlive = options.keepAlive ?? false;
  const maxSockets = options.maxSockets ?? 10;
  const loopback = options.loopback ?? LOOPBACK;
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
    const mod = url.protocol === 'https:' ? (https ??= createRequire(import.meta.url)('node:https') as HttpModule) : httpModule;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(req.body.byteLength);
    const name = stripBrackets(url.hostname);
    const options: RequestOptions = {
      hostname: name,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: `${url.pathname}${url.search}`,
      method: req.method,
      headers,
      agent: agentOf(mod),
      signal,
      ...(addresses === undefined ? {} : { lookup: pinnedLookup(addresses) }),
    };
    const attempt = (options: RequestOptions, again: boolean): Promise<TransportAnswer> =>
      new Promise<TransportAnswer>((resolve, reject) => {
        const outgoing = mod.request(options);
        const onError = (error: NodeJS.ErrnoException): void => {
          // A kept-alive socket the server closed just as it was reused: once more (the pool has
          // dropped that socket), for a request without a body only, and only once.
          if (again && outgoing.reusedSocket && req.body === undefined && error.code === 'ECONNRESET' && !signal.aborted) resolve(attempt(options, false));
          else reject(error);
        };
        outgoing.once('error', onError);
        outgoing.once('response', (res) => {
          outgoing.off('error', onError);
          resolve(answerOf(outgoing, res));
        });
        outgoing.end(req.body);
      });
    if (addresses !== undefined || loopback.length === 0 || !isLocalhostName(name)) return attempt(options, true);
    // `localhost` and names under it are loopback (RFC 6761 section 6.3): sent to 127.0.0.1, then
    // to ::1 when that cannot be connected to, never to what a resolver or a hosts file says. The
    // name still serves Host and TLS (`servername`, so node does not test it as an address again).
    const to = (address: string): RequestOptions & { servername: string } => ({ ...options, hostname: address, servername: name, headers: { host: url.host, ...headers } });
    let first: unknown;
    for (const address of loopback) {
      try {
        return await attempt(to(address), true);
      } catch (error) {
        if (signal.aborted || !notConnected(error)) throw error;
        // The first address's refusal is the one reported when none can be connected to.
        first ??= error;
      }
    }
    throw first;
  };
}

/** The loopback addresses a `localhost` name is sent to, in turn. */
const LOOPBACK: readonly string[] = ['127.0.0.1', '::1'];
/** Errors of a connection that was never made (nothing was sent): the next loopback address is tried. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EADDRNOTAVAIL', 'EAFNOSUPPORT', 'ENETUNREACH', 'EHOSTUNREACH']);
const notConnected = (error: unknown): boolean => NOT_CONNECTED.has((error as NodeJS.ErrnoException | undefined)?.code ?? '');

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

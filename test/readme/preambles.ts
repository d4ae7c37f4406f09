/**
 * The stand-ins a README block may rely on, by name. A block opts in with an HTML comment on the
 * line above its fence, `<!-- snippet-preamble: app req -->`, and is compiled with these
 * declarations in front of it. Keep each one a single `declare`: anything a reader would have to
 * write themselves belongs in the block.
 */
export const PREAMBLES: Readonly<Record<string, string>> = {
  /** An express application the block mounts routes on. */
  app: "declare const app: import('express').Express;",
  /** The express request of the route the block runs in (after `resource.require()`). */
  req: "declare const req: import('express').Request;",
  /** A resource from `createResource` of @aauth-kit/express. */
  resource: "declare const resource: import('@aauth-kit/express').Resource;",
  /** An agent from `createAgent` of @aauth-kit/agent. */
  agent: "declare const agent: import('@aauth-kit/agent').Agent;",
  /** The URL a block sends a request to. */
  url: 'declare const url: string;',
  /** A JSON body a block sends. */
  order: 'declare const order: { sku: string; qty: number };',
  /** The caller's auth token (`req.aauth.token.raw`) a block passes on. */
  upstreamToken: 'declare const upstreamToken: string;',
};

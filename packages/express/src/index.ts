export { createResource } from './create-resource.js';
export { aauth, type AAuthOptions } from './aauth.js';
export { aauthErrorHandler } from './aauth-error-handler.js';
export type {
  AAuthInfo,
  AAuthTokenInfo,
  RequireLevel,
  RequireOptions,
  Resource,
  ResourceDisplayMetadata,
  ResourceOptions,
  WellKnownAgent,
  WellKnownOptions,
} from './types.js';
export type { ResourceRevocationOptions } from './lib/revocation.js';

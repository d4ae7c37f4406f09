export { createResource } from './create-resource.js';
export { aauth, type AAuthOptions } from './aauth.js';
export type { AAuthInfo, AAuthTokenInfo, RequireLevel, RequireOptions, Resource, ResourceOptions } from './types.js';

export { createDocumentFetcher } from './create-document-fetcher.js';
export { fetchLimited } from './fetch-limited.js';
export { readLimited } from './read-limited.js';
export { egressProblem } from './egress-problem.js';
export { isPrivateAddress } from './is-private-address.js';
export { LruCache } from './lru-cache.js';
export type {
  DiscoveryOptions,
  DocumentFetcher,
  DocumentFetcherOptions,
  EgressOptions,
  FailureCodes,
  FetchedDocument,
  FetchJsonOptions,
  FetchLimitedOptions,
  LimitedResponse,
  ResolveHostname,
  ResponseHeaders,
} from './types.js';
